/* The training ABI from C: `train DIR STEPS LR`. Reads DIR/x.bin (the model's inputs, one
 * after another) and DIR/y.bin (the labels), then
 *   - runs STEPS steps, alternating train_step and train_grads + train_apply, halving the
 *     learning rate with train_set_lr after the second step; writes each loss to
 *     DIR/c_losses.bin, the parameters to DIR/c_param_<i>.bin, the slots to DIR/c_slot_<i>.bin
 *     and train_predict's first output to DIR/c_predict.bin;
 *   - saves a checkpoint, loads it into a caller-owned context (train_init) and checks that one
 *     more step on each gives the same bytes;
 *   - checks that damaged, truncated, missing and foreign checkpoints and bad arguments are
 *     refused with their status codes and leave the context unchanged.
 * Prints "FAIL: ..." and exits 1 on the first failed check. Build with -DPREFIX -DHEADER. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include HEADER

#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define F(x) XCAT(PREFIX, x)
#define CHECK(cond, ...)                           \
    do {                                           \
        if (!(cond)) {                             \
            printf("FAIL: " __VA_ARGS__);          \
            printf("\n");                          \
            exit(1);                               \
        }                                          \
    } while (0)

static size_t bytes_of(const sinter_tensor_info *t) {
    static const size_t sizes[] = {0, 4, 2, 2, 8, 1, 1, 2, 4, 8, 1};
    size_t n = sizes[t->dtype];
    for (int i = 0; i < t->rank; i++) n *= (size_t)t->shape[i];
    return n;
}

static void *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    CHECK(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)n + 1);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n, "cannot read %s", path);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n, "cannot write %s", path);
    fclose(f);
}

/* Every parameter and slot of a context, concatenated. */
static unsigned char *snapshot(F(_train_context) * ctx, size_t *size) {
    size_t total = 0;
    for (int i = 0; i < F(_train_num_params)(); i++) total += bytes_of(F(_train_param_info)(i));
    for (int i = 0; i < F(_train_num_slots)(); i++) total += bytes_of(F(_train_slot_info)(i));
    unsigned char *out = malloc(total + 1), *p = out;
    for (int i = 0; i < F(_train_num_params)(); i++) {
        CHECK(F(_train_get_param)(ctx, i, p) == SINTER_OK, "get_param %d", i);
        p += bytes_of(F(_train_param_info)(i));
    }
    for (int i = 0; i < F(_train_num_slots)(); i++) {
        CHECK(F(_train_get_slot)(ctx, i, p) == SINTER_OK, "get_slot %d", i);
        p += bytes_of(F(_train_slot_info)(i));
    }
    *size = total;
    return out;
}

/* Writes DIR/c_KIND_<i>.bin for each parameter or slot. */
static void dump(const char *dir, const char *kind, int count, const sinter_tensor_info *(*info)(int32_t),
                 int32_t (*get)(const F(_train_context) *, int32_t, void *), F(_train_context) * ctx) {
    char path[4096];
    for (int i = 0; i < count; i++) {
        size_t b = bytes_of(info(i));
        void *buf = malloc(b + 1);
        CHECK(get(ctx, i, buf) == SINTER_OK, "get %s %d", kind, i);
        snprintf(path, sizeof path, "%s/c_%s_%d.bin", dir, kind, i);
        write_file(path, buf, b);
        free(buf);
    }
}

int main(int argc, char **argv) {
    CHECK(argc == 4, "usage: train DIR STEPS LR");
    const char *dir = argv[1];
    int steps = atoi(argv[2]);
    float lr = (float)atof(argv[3]);
    char path[4096];
    size_t n;
    snprintf(path, sizeof path, "%s/x.bin", dir);
    unsigned char *x = read_file(path, &n);
    int ni = F(_num_inputs)();
    const void **ins = calloc((size_t)ni + 1, sizeof(void *));
    size_t offset = 0;
    for (int i = 0; i < ni; i++) {
        ins[i] = x + offset;
        offset += bytes_of(F(_input_info)(i));
    }
    CHECK(offset == n, "x.bin has %zu bytes, the inputs take %zu", n, offset);
    snprintf(path, sizeof path, "%s/y.bin", dir);
    void *y = read_file(path, &n);
    CHECK(n == bytes_of(F(_train_label_info)(0)), "y.bin has %zu bytes", n);
    CHECK(F(_train_label_info)(1) == NULL && F(_train_param_info)(-1) == NULL, "info out of range");

    F(_train_context) *ctx = NULL;
    CHECK(F(_train_create)(NULL, 1) == SINTER_ERR_NULL_ARGUMENT, "create(NULL)");
    CHECK(F(_train_create)(&ctx, -1) == SINTER_ERR_INVALID_ARGUMENT && ctx == NULL, "create(-1)");
    CHECK(F(_train_create)(&ctx, 1) == SINTER_OK, "create");
    CHECK(F(_train_lr)(ctx) == lr, "starting lr %g, expected %g", F(_train_lr)(ctx), lr);
    float *losses = calloc((size_t)steps + 1, sizeof(float));
    for (int s = 0; s < steps; s++) {
        if (s == 2) {
            CHECK(F(_train_set_lr)(ctx, lr / 2) == SINTER_OK, "set_lr");
            CHECK(F(_train_lr)(ctx) == lr / 2, "lr after set_lr");
        }
        int32_t st;
        if (s % 2 == 0) {
            st = F(_train_step)(ctx, ins, y, &losses[s], NULL);
        } else {
            st = F(_train_grads)(ctx, ins, y, &losses[s], NULL);
            CHECK(st == SINTER_OK, "grads: %s", F(_status_string)(st));
            st = F(_train_apply)(ctx, NULL);
        }
        CHECK(st == SINTER_OK, "step %d: %s", s, F(_status_string)(st));
    }
    CHECK(F(_train_steps)(ctx) == steps, "steps %lld", (long long)F(_train_steps)(ctx));
    snprintf(path, sizeof path, "%s/c_losses.bin", dir);
    write_file(path, losses, (size_t)steps * sizeof(float));
    dump(dir, "param", F(_train_num_params)(), F(_train_param_info), F(_train_get_param), ctx);
    dump(dir, "slot", F(_train_num_slots)(), F(_train_slot_info), F(_train_get_slot), ctx);
    size_t out_bytes = bytes_of(F(_output_info)(0));
    void **outs = calloc((size_t)F(_num_outputs)() + 1, sizeof(void *));
    for (int i = 0; i < F(_num_outputs)(); i++) outs[i] = malloc(bytes_of(F(_output_info)(i)) + 1);
    CHECK(F(_train_predict)(ctx, ins, (void *const *)outs, NULL) == SINTER_OK, "predict");
    snprintf(path, sizeof path, "%s/c_predict.bin", dir);
    write_file(path, outs[0], out_bytes);

    /* A checkpoint into a caller-owned context; one more step on each must agree bit for bit. */
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", dir);
    CHECK(F(_train_save)(ctx, ckpt) == SINTER_OK, "save");
    int64_t size = F(_train_state_size)();
    unsigned char *block = aligned_alloc(64, (size_t)(size + 64));
    CHECK(F(_train_init)(block + 4) == SINTER_ERR_MISALIGNED_WORKSPACE, "init(misaligned)");
    CHECK(F(_train_init)(block) == SINTER_OK, "init");
    F(_train_context) *mine = (F(_train_context) *)block;
    size_t a_size, b_size;
    unsigned char *fresh = snapshot(mine, &b_size);
    CHECK(F(_train_load)(mine, ckpt) == SINTER_OK, "load");
    unsigned char *a = snapshot(ctx, &a_size), *b = snapshot(mine, &b_size);
    CHECK(a_size == b_size && memcmp(a, b, a_size) == 0, "loaded state differs");
    CHECK(F(_train_steps)(mine) == steps && F(_train_lr)(mine) == lr / 2, "loaded steps or lr");
    int64_t ws_size = F(_train_workspace_size)();
    void *ws = ws_size > 0 ? aligned_alloc(64, (size_t)ws_size) : NULL;
    if (ws_size > 0) {
        CHECK(F(_train_step)(mine, ins, y, NULL, NULL) == SINTER_ERR_NULL_ARGUMENT, "step without workspace");
    }
    float l1, l2;
    CHECK(F(_train_step)(ctx, ins, y, &l1, NULL) == SINTER_OK, "step after save");
    CHECK(F(_train_step)(mine, ins, y, &l2, ws) == SINTER_OK, "step after load");
    free(a);
    free(b);
    a = snapshot(ctx, &a_size);
    b = snapshot(mine, &b_size);
    CHECK(l1 == l2 && memcmp(a, b, a_size) == 0, "resumed step differs");

    /* Refusals: the context must stay as it is. */
    size_t ck_size;
    unsigned char *bytes = read_file(ckpt, &ck_size);
    CHECK(ck_size > 72, "checkpoint too small");
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
    bytes[ck_size / 2] ^= 0x10;
    write_file(bad, bytes, ck_size);
    CHECK(F(_train_load)(mine, bad) == SINTER_ERR_CHECKPOINT_MISMATCH, "flipped payload byte");
    bytes[ck_size / 2] ^= 0x10;
    bytes[16] ^= 1;
    write_file(bad, bytes, ck_size);
    CHECK(F(_train_load)(mine, bad) == SINTER_ERR_CHECKPOINT_MISMATCH, "another model's fingerprint");
    bytes[16] ^= 1;
    write_file(bad, bytes, ck_size - 9);
    CHECK(F(_train_load)(mine, bad) == SINTER_ERR_CHECKPOINT_IO, "truncated checkpoint");
    write_file(bad, bytes, 10);
    CHECK(F(_train_load)(mine, bad) == SINTER_ERR_CHECKPOINT_MISMATCH, "short header");
    snprintf(bad, sizeof bad, "%s/missing.ckpt", dir);
    CHECK(F(_train_load)(mine, bad) == SINTER_ERR_CHECKPOINT_IO, "missing checkpoint");
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.ckpt", dir);
    CHECK(F(_train_save)(mine, bad) == SINTER_ERR_CHECKPOINT_IO, "save into a missing folder");
    free(b);
    b = snapshot(mine, &b_size);
    CHECK(memcmp(a, b, a_size) == 0 && F(_train_steps)(mine) == steps + 1, "a refused load changed the context");
    CHECK(memcmp(fresh, b, b_size) != 0, "training changed nothing");

    CHECK(F(_train_step)(NULL, ins, y, NULL, NULL) == SINTER_ERR_NULL_ARGUMENT, "step(NULL)");
    CHECK(F(_train_step)(ctx, ins, NULL, NULL, NULL) == SINTER_ERR_NULL_ARGUMENT, "step(labels NULL)");
    CHECK(F(_train_set_lr)(ctx, NAN) == SINTER_ERR_INVALID_ARGUMENT, "set_lr(NaN)");
    CHECK(F(_train_set_lr)(ctx, -1) == SINTER_ERR_INVALID_ARGUMENT, "set_lr(-1)");
    CHECK(F(_train_set_lr)(ctx, INFINITY) == SINTER_ERR_INVALID_ARGUMENT, "set_lr(inf)");
    CHECK(F(_train_get_param)(ctx, F(_train_num_params)(), a) == SINTER_ERR_INVALID_ARGUMENT, "param out of range");
    CHECK(F(_train_gradient)(ctx, -1) == NULL, "gradient(-1)");
    CHECK(F(_train_gradient)(ctx, 0) != NULL, "gradient(0)");
    CHECK(F(_train_load)(ctx, NULL) == SINTER_ERR_NULL_ARGUMENT, "load(NULL)");
    F(_train_destroy)(mine); /* caller-owned: nothing to free */
    F(_train_destroy)(NULL);
    F(_train_destroy)(ctx);
    free(block);
    free(ws);
    printf("ok %d steps\n", steps);
    return 0;
}
