/* Links the compiled MLP (libmlp.so + mlp.h), runs it on an input .npy and prints one row of
 * class probabilities per batch item. Build and run (see README):
 *   sinter compile mlp.sir -o libmlp.so && sinter compile mlp.sir --emit header -o mlp.h
 *   cc -std=c11 -Wall -o mlp_app main.c -L. -lmlp -Wl,-rpath,'$ORIGIN' && ./mlp_app input.npy
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mlp.h"

/* Reads a little-endian float32 .npy file with exactly `count` elements. */
static int read_npy_f32(const char *path, float *out, size_t count) {
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    if (!f) { fprintf(stderr, "cannot open %s\n", path); return -1; }
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1) {
        fprintf(stderr, "%s: not a version-1 .npy file\n", path); fclose(f); return -1;
    }
    size_t header = (size_t)pre[8] | ((size_t)pre[9] << 8);
    char *text = malloc(header + 1);
    if (!text || fread(text, 1, header, f) != header) { free(text); fclose(f); return -1; }
    text[header] = 0;
    if (!strstr(text, "'<f4'")) { fprintf(stderr, "%s: expected float32 data\n", path); free(text); fclose(f); return -1; }
    free(text);
    size_t got = fread(out, sizeof(float), count, f);
    fclose(f);
    if (got != count) { fprintf(stderr, "%s: expected %zu values, read %zu\n", path, count, got); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    if (mlp_abi_version() != SINTER_ABI_VERSION) { fprintf(stderr, "ABI version mismatch\n"); return 1; }
    const sinter_tensor_info *in = mlp_input_info(0), *out = mlp_output_info(0);
    size_t n_in = 1, n_out = 1;
    for (int i = 0; i < in->rank; i++) n_in *= (size_t)in->shape[i];
    for (int i = 0; i < out->rank; i++) n_out *= (size_t)out->shape[i];

    float *x = malloc(n_in * sizeof(float)), *y = malloc(n_out * sizeof(float));
    if (!x || !y) return 1;
    if (read_npy_f32(argc > 1 ? argv[1] : "input.npy", x, n_in) != 0) return 1;

    /* Caller-owned workspace, aligned as the library asks. */
    size_t align = (size_t)mlp_workspace_align();
    size_t size = ((size_t)mlp_workspace_size() + align - 1) / align * align;
    void *workspace = size ? aligned_alloc(align, size) : NULL;

    mlp_context *ctx = NULL;
    int32_t status = mlp_create(&ctx, 1);
    if (status != SINTER_OK) { fprintf(stderr, "create: %s\n", mlp_status_string(status)); return 1; }
    const void *inputs[1] = { x };
    void *outputs[1] = { y };
    status = mlp_run(ctx, inputs, outputs, workspace);
    if (status != SINTER_OK) { fprintf(stderr, "run: %s\n", mlp_status_string(status)); return 1; }

    size_t cols = (size_t)out->shape[out->rank - 1];
    for (size_t i = 0; i < n_out; i++) printf("%.9g%s", y[i], (i + 1) % cols ? " " : "\n");
    mlp_destroy(ctx);
    free(workspace); free(x); free(y);
    return 0;
}
