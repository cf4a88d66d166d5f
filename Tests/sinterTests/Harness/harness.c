/* Generic harness for any compiled model: reads DIR/input_<i>.bin (raw bytes, introspection
 * order), runs the model, writes DIR/output_<i>.bin. Build with
 *   -DPREFIX=name -DHEADER='"name.h"'
 * Exit code 0 on success; prints the status string otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include HEADER

#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define F(x) XCAT(PREFIX, x)

static size_t bytes_of(const sinter_tensor_info *t) {
    static const size_t sizes[] = {0, 4, 2, 2, 8, 1, 1, 2, 4, 8, 1};
    size_t n = sizes[t->dtype];
    for (int i = 0; i < t->rank; i++) n *= (size_t)t->shape[i];
    return n;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    int ni = F(_num_inputs)(), no = F(_num_outputs)();
    const void **ins = calloc((size_t)ni + 1, sizeof(void *));
    void **outs = calloc((size_t)no + 1, sizeof(void *));
    char path[4096];
    for (int i = 0; i < ni; i++) {
        size_t n = bytes_of(F(_input_info)(i));
        void *buf = malloc(n ? n : 1);
        snprintf(path, sizeof path, "%s/input_%d.bin", dir, i);
        FILE *f = fopen(path, "rb");
        if (!f || fread(buf, 1, n, f) != n) { fprintf(stderr, "cannot read %s\n", path); return 2; }
        fclose(f);
        ins[i] = buf;
    }
    for (int i = 0; i < no; i++) outs[i] = malloc(bytes_of(F(_output_info)(i)) + 1);
    F(_context) *ctx = NULL;
    int32_t st = F(_create)(&ctx, 1);
    if (st != SINTER_OK) { fprintf(stderr, "create: %s\n", F(_status_string)(st)); return 1; }
#ifdef WEIGHTS
    st = F(_load_weights)(ctx, WEIGHTS);
    if (st != SINTER_OK) { fprintf(stderr, "load_weights: %s\n", F(_status_string)(st)); return 1; }
#endif
    st = F(_run)(ctx, ins, (void *const *)outs, NULL);
    if (st != SINTER_OK) { fprintf(stderr, "run: %s\n", F(_status_string)(st)); return 1; }
    for (int i = 0; i < no; i++) {
        snprintf(path, sizeof path, "%s/output_%d.bin", dir, i);
        FILE *f = fopen(path, "wb");
        size_t n = bytes_of(F(_output_info)(i));
        if (!f || fwrite(outs[i], 1, n, f) != n) { fprintf(stderr, "cannot write %s\n", path); return 2; }
        fclose(f);
    }
    F(_destroy)(ctx);
    return 0;
}
