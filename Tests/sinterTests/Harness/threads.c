/* Threads: expected results come from a context with num_threads = 1; then one context
 * with a pool of argv[1] threads (default 2) is run by two caller threads at once, each with
 * its own workspace, many times on different inputs; every result must be identical. Needs
 * -DPREFIX, -DHEADER, -lpthread; prints "ok". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include HEADER

#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define F(x) XCAT(PREFIX, x)
#define RUNS 40

static F(_context) *ctx;
static size_t nin, nout;
static float *inputs[2], *expected[2];

static size_t count(const sinter_tensor_info *t) {
    size_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= (size_t)t->shape[i];
    return n;
}

static void *worker(void *arg) {
    int id = (int)(size_t)arg;
    size_t align = (size_t)F(_workspace_align)(), size = (size_t)F(_workspace_size)();
    void *ws = aligned_alloc(align, size ? size : align);
    float *out = malloc(nout * sizeof(float));
    for (int r = 0; r < RUNS; r++) {
        int which = (r + id) % 2;
        const void *in[1] = {inputs[which]};
        void *o[1] = {out};
        if (F(_run)(ctx, in, o, ws) != SINTER_OK || memcmp(out, expected[which], nout * sizeof(float)) != 0) {
            free(ws); free(out);
            return (void *)1;
        }
    }
    free(ws); free(out);
    return NULL;
}

int main(int argc, char **argv) {
    int pool_threads = argc > 1 ? atoi(argv[1]) : 2;
    if (F(_num_inputs)() != 1 || F(_num_outputs)() != 1) { printf("harness needs one input and one output\n"); return 2; }
    nin = count(F(_input_info)(0));
    nout = count(F(_output_info)(0));
    F(_context) *serial = NULL;
    if (F(_create)(&serial, 1) != SINTER_OK || F(_create)(&ctx, pool_threads) != SINTER_OK) return 1;
    for (int k = 0; k < 2; k++) {
        inputs[k] = malloc(nin * sizeof(float));
        expected[k] = malloc(nout * sizeof(float));
        for (size_t i = 0; i < nin; i++) inputs[k][i] = (float)((i * (7 + 5 * k)) % 23) / 11.0f - 1.0f;
        const void *in[1] = {inputs[k]};
        void *o[1] = {expected[k]};
        if (F(_run)(serial, in, o, NULL) != SINTER_OK) return 1;
    }
    F(_destroy)(serial);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, (void *)(size_t)i);
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    F(_destroy)(ctx);
    printf(bad ? "mismatch\n" : "ok\n");
    return bad;
}
