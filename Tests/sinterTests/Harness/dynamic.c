/* --dynamic from C: one shared object, any batch within the bounds.
   Built with -DPREFIX=name -DHEADER="name.h" for a model with one input [N, ...] and one
   output [N, ...]. Runs n = 7 on a whole batch, then each entry alone (n = 1), and checks that
   the rows agree; that sizes outside the bounds are refused; that workspace_size_for(n) is
   what a caller-owned workspace needs. Prints "ok" and exits 0, or says what failed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include HEADER

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define F(name) CAT(PREFIX, name)

static int64_t row_elements(const sinter_tensor_info *info) {
    int64_t n = 1;
    for (int32_t i = 1; i < info->rank; i++) n *= info->shape[i];
    return n;
}

int main(void) {
    const sinter_tensor_info *in = F(input_info)(0), *out = F(output_info)(0);
    if (!in || !out || in->shape[0] != -1 || out->shape[0] != -1) {
        printf("introspection does not report a symbolic first dimension\n");
        return 1;
    }
    if (F(dynamic_min)() != 1 || F(dynamic_max)() != 256) {
        printf("bounds %lld..%lld, expected 1..256\n", (long long)F(dynamic_min)(), (long long)F(dynamic_max)());
        return 1;
    }
    if (F(workspace_size_for)(0) != -1 || F(workspace_size_for)(257) != -1 ||
        F(workspace_size_for)(7) > F(workspace_size)() || F(workspace_size_for)(1) > F(workspace_size_for)(7)) {
        printf("workspace_size_for is inconsistent\n");
        return 1;
    }
    const int n = 7;
    int64_t rin = row_elements(in), rout = row_elements(out);
    float *x = malloc(sizeof(float) * n * rin), *y = malloc(sizeof(float) * n * rout), *y1 = malloc(sizeof(float) * rout);
    for (int64_t i = 0; i < n * rin; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    F(context) *ctx = NULL;
    if (F(create)(&ctx, 2) != SINTER_OK) return 1;
    /* A caller-owned workspace of exactly workspace_size_for(n) bytes. */
    int64_t bytes = F(workspace_size_for)(n), align = F(workspace_align)();
    void *ws = bytes ? aligned_alloc((size_t)align, (size_t)bytes) : NULL;
    const void *ins[1] = {x};
    void *outs[1] = {y};
    int32_t s = F(run)(ctx, n, ins, outs, ws);
    if (s != SINTER_OK) {
        printf("run(n=7): %s\n", F(status_string)(s));
        return 1;
    }
    for (int r = 0; r < n; r++) {
        const void *ins1[1] = {x + r * rin};
        void *outs1[1] = {y1};
        if ((s = F(run)(ctx, 1, ins1, outs1, NULL)) != SINTER_OK) {
            printf("run(n=1): %s\n", F(status_string)(s));
            return 1;
        }
        for (int64_t j = 0; j < rout; j++) {
            float want = y1[j], got = y[r * rout + j];
            if (fabsf(got - want) > 1e-4f + 1e-4f * fabsf(want)) {
                printf("row %d element %lld: %g in a batch of 7, %g alone\n", r, (long long)j, got, want);
                return 1;
            }
        }
    }
    if (F(run)(ctx, 0, ins, outs, NULL) != SINTER_ERR_INVALID_ARGUMENT ||
        F(run)(ctx, 257, ins, outs, NULL) != SINTER_ERR_INVALID_ARGUMENT) {
        printf("sizes outside 1..256 were not refused\n");
        return 1;
    }
    F(destroy)(ctx);
    free(ws);
    free(x);
    free(y);
    free(y1);
    printf("ok\n");
    return 0;
}
