/* Data-parallel training through the C ABI with the app's own all-reduce (MPI here). Every
 * rank computes the gradients of its own batch with linear_train_grads; the ranks average them
 * in place with one MPI_Allreduce over the block that starts at linear_train_gradient(ctx, 0)
 * (linear_train_gradients_size() bytes, zero padding included); linear_train_apply updates.
 * The same two calls serve any other reduction (NCCL, a parameter server, a thread pool).
 *
 *   sinter compile linear.sir --train --loss ce --optimizer sgd,lr=0.5 --emit shared,header -o build
 *   mpicc -std=c11 -Ibuild -o train_mpi main.c -Lbuild -llinear -Wl,-rpath,"$PWD/build"
 *   mpirun -n 2 ./train_mpi
 *
 * Prints the averaged loss of the first and last step and whether all ranks ended with the
 * same parameters. Exit status 0 when they do and the loss fell. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "linear.h"

/* Synthetic, learnable data: features uniform in [-1, 1) from a per-(step, rank) generator;
 * the label is the class c whose features j = c (mod 4) sum highest. */
static void make_batch(int step, int rank, float *x, int64_t *y, int rows, int features) {
    uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(step * 131 + rank + 1);
    for (int i = 0; i < rows; i++) {
        float score[4] = {0, 0, 0, 0};
        for (int j = 0; j < features; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            float v = (float)((s >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
            x[i * features + j] = v;
            score[j % 4] += v;
        }
        int best = 0;
        for (int c = 1; c < 4; c++) if (score[c] > score[best]) best = c;
        y[i] = best;
    }
}

static int check(int32_t status, const char *what) {
    if (status != SINTER_OK) fprintf(stderr, "%s: %s\n", what, linear_status_string(status));
    return status != SINTER_OK;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const sinter_tensor_info *xi = linear_input_info(0);
    int rows = (int)xi->shape[0], features = (int)xi->shape[1];
    float *x = malloc(sizeof(float) * (size_t)(rows * features));
    int64_t *y = malloc(sizeof(int64_t) * (size_t)rows);
    linear_train_context *ctx = NULL;
    if (check(linear_train_create(&ctx, 1), "train_create")) MPI_Abort(MPI_COMM_WORLD, 1);
    int count = (int)(linear_train_gradients_size() / (int64_t)sizeof(float));
    float first = 0, loss = 0;
    for (int step = 0; step < 60; step++) {
        make_batch(step, rank, x, y, rows, features);
        const void *inputs[] = {x};
        if (check(linear_train_grads(ctx, inputs, y, &loss, NULL), "train_grads")) MPI_Abort(MPI_COMM_WORLD, 1);
        float *grads = linear_train_gradient(ctx, 0);
        MPI_Allreduce(MPI_IN_PLACE, grads, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        for (int i = 0; i < count; i++) grads[i] /= (float)size;
        MPI_Allreduce(MPI_IN_PLACE, &loss, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        loss /= (float)size;
        if (check(linear_train_apply(ctx, NULL), "train_apply")) MPI_Abort(MPI_COMM_WORLD, 1);
        if (step == 0) first = loss;
    }
    /* Every rank must hold rank 0's parameters, bit for bit. */
    int differ = 0;
    for (int p = 0; p < linear_train_num_params(); p++) {
        const sinter_tensor_info *info = linear_train_param_info(p);
        int n = 1;
        for (int d = 0; d < info->rank; d++) n *= (int)info->shape[d];
        float *mine = malloc(sizeof(float) * (size_t)n), *root = malloc(sizeof(float) * (size_t)n);
        linear_train_get_param(ctx, p, mine);
        memcpy(root, mine, sizeof(float) * (size_t)n);
        MPI_Bcast(root, n, MPI_FLOAT, 0, MPI_COMM_WORLD);
        differ += memcmp(root, mine, sizeof(float) * (size_t)n) != 0;
        free(mine);
        free(root);
    }
    MPI_Allreduce(MPI_IN_PLACE, &differ, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("%d ranks, %lld steps: loss %.4f -> %.4f, parameters %s\n", size,
               (long long)linear_train_steps(ctx), first, loss, differ ? "DIFFER" : "identical on every rank");
    }
    linear_train_destroy(ctx);
    free(x);
    free(y);
    MPI_Finalize();
    return differ != 0 || !(loss < first * 0.5f);
}
