/* Thread-pool stress: CONTEXTS contexts with pools of 1..CONTEXTS+1 threads, each run by
 * CALLERS caller threads at once (own workspaces) for argv[1] runs each, while a churn thread
 * creates, runs and destroys short-lived pooled contexts; every result must be bit-identical
 * to a 1-thread context's. Needs -DPREFIX, -DHEADER, -lpthread; prints "ok RUNS". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include HEADER

#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define F(x) XCAT(PREFIX, x)
#define CONTEXTS 3
#define CALLERS 3
#define INPUTS 3

static F(_context) *ctxs[CONTEXTS];
static size_t nin, nout;
static float *inputs[INPUTS], *expected[INPUTS];
static int runs = 200;

static size_t count(const sinter_tensor_info *t) {
    size_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= (size_t)t->shape[i];
    return n;
}

/* Runs `n` times on `ctx` with inputs chosen by `seed`; 0 when every result matched. */
static int run_many(F(_context) *ctx, int n, int seed) {
    size_t align = (size_t)F(_workspace_align)(), size = (size_t)F(_workspace_size)();
    void *ws = aligned_alloc(align, size ? (size + align - 1) / align * align : align);
    float *out = malloc(nout * sizeof(float));
    int bad = ws == NULL || out == NULL;
    for (int r = 0; r < n && !bad; r++) {
        int which = (r * 7 + seed) % INPUTS;
        const void *in[1] = {inputs[which]};
        void *o[1] = {out};
        bad = F(_run)(ctx, in, o, ws) != SINTER_OK || memcmp(out, expected[which], nout * sizeof(float)) != 0;
    }
    free(ws);
    free(out);
    return bad;
}

static void *caller(void *arg) {
    int id = (int)(size_t)arg;
    return (void *)(size_t)run_many(ctxs[id / CALLERS], runs, id);
}

static void *churn(void *arg) {
    (void)arg;
    for (int i = 0; i < runs / 10 + 5; i++) {
        F(_context) *c = NULL;
        if (F(_create)(&c, 1 + i % 4) != SINTER_OK) return (void *)1;
        int bad = run_many(c, 3, i);
        F(_destroy)(c);
        if (bad) return (void *)1;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) runs = atoi(argv[1]);
    if (F(_num_inputs)() != 1 || F(_num_outputs)() != 1) { printf("harness needs one input and one output\n"); return 2; }
    nin = count(F(_input_info)(0));
    nout = count(F(_output_info)(0));
    F(_context) *serial = NULL;
    if (F(_create)(&serial, 1) != SINTER_OK) return 1;
    for (int k = 0; k < INPUTS; k++) {
        inputs[k] = malloc(nin * sizeof(float));
        expected[k] = malloc(nout * sizeof(float));
        for (size_t i = 0; i < nin; i++) inputs[k][i] = (float)((i * (7 + 5 * k)) % 23) / 11.0f - 1.0f;
        const void *in[1] = {inputs[k]};
        void *o[1] = {expected[k]};
        if (F(_run)(serial, in, o, NULL) != SINTER_OK) return 1;
    }
    F(_destroy)(serial);
    for (int c = 0; c < CONTEXTS; c++)
        if (F(_create)(&ctxs[c], c + 2) != SINTER_OK) return 1;
    pthread_t t[CONTEXTS * CALLERS + 1];
    for (int i = 0; i < CONTEXTS * CALLERS; i++) pthread_create(&t[i], NULL, caller, (void *)(size_t)i);
    pthread_create(&t[CONTEXTS * CALLERS], NULL, churn, NULL);
    int bad = 0;
    for (int i = 0; i <= CONTEXTS * CALLERS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    for (int c = 0; c < CONTEXTS; c++) F(_destroy)(ctxs[c]);
    for (int k = 0; k < INPUTS; k++) { free(inputs[k]); free(expected[k]); }
    if (bad) { printf("mismatch\n"); return 1; }
    printf("ok %d\n", runs);
    return 0;
}
