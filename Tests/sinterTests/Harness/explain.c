/* NAME_explain from C: `explain DIR`. Reads DIR/x.bin (input 0), writes the attributions for
 * each sample's own class to DIR/auto.bin and for class 1 to DIR/class1.bin, and checks that a
 * class out of range and NULL arguments are refused. Prints "ok" on success. */
#include <stdio.h>
#include <stdlib.h>
#include HEADER

#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define F(x) XCAT(PREFIX, x)

static size_t count_of(const sinter_tensor_info *t) {
    size_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= (size_t)t->shape[i];
    return n;
}

static int save(const char *dir, const char *name, const float *data, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, sizeof(float), n, f) != n) return 1;
    return fclose(f);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    size_t n = count_of(F(_input_info)(0)), rows = (size_t)F(_input_info)(0)->shape[0];
    float *x = malloc(n * sizeof(float)), *a = malloc(n * sizeof(float));
    char path[4096];
    snprintf(path, sizeof path, "%s/x.bin", dir);
    FILE *f = fopen(path, "rb");
    if (!f || fread(x, sizeof(float), n, f) != n) { printf("cannot read %s\n", path); return 2; }
    fclose(f);
    F(_context) *ctx = NULL;
    if (F(_create)(&ctx, 1) != SINTER_OK) { printf("create failed\n"); return 1; }
    const void *ins[] = {x};
    int32_t st = F(_explain)(ctx, ins, NULL, a, NULL);
    if (st != SINTER_OK || save(dir, "auto.bin", a, n)) { printf("explain: %s\n", F(_status_string)(st)); return 1; }
    int64_t *targets = malloc(rows * sizeof(int64_t));
    for (size_t r = 0; r < rows; r++) targets[r] = 1;
    st = F(_explain)(ctx, ins, targets, a, NULL);
    if (st != SINTER_OK || save(dir, "class1.bin", a, n)) { printf("explain 1: %s\n", F(_status_string)(st)); return 1; }
    targets[0] = 1000;
    if (F(_explain)(ctx, ins, targets, a, NULL) != SINTER_ERR_INVALID_ARGUMENT) { printf("class 1000 accepted\n"); return 1; }
    if (F(_explain)(NULL, ins, NULL, a, NULL) != SINTER_ERR_NULL_ARGUMENT) { printf("NULL ctx accepted\n"); return 1; }
    if (F(_explain)(ctx, ins, NULL, NULL, NULL) != SINTER_ERR_NULL_ARGUMENT) { printf("NULL output accepted\n"); return 1; }
    F(_destroy)(ctx);
    printf("ok\n");
    return 0;
}
