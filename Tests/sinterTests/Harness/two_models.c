/* Two different models linked into one process: both headers in one file (shared types
 * once), both libraries, both run; prints each model's first output value. */
#include <stdio.h>
#include "first.h"
#include "second.h"

int main(void) {
    static float x1[256], y1[40], x2[6], y2[6];
    for (int i = 0; i < 256; i++) x1[i] = (float)(i % 13) / 13.0f;
    for (int i = 0; i < 6; i++) x2[i] = (float)i - 2.5f;
    first_context *a = NULL;
    second_context *b = NULL;
    if (first_create(&a, 1) != SINTER_OK || second_create(&b, 1) != SINTER_OK) return 1;
    const void *i1[1] = {x1}, *i2[1] = {x2};
    void *o1[1] = {y1}, *o2[1] = {y2};
    if (first_run(a, i1, o1, NULL) != SINTER_OK || second_run(b, i2, o2, NULL) != SINTER_OK) return 1;
    printf("%.6f %.6f\n", y1[0], y2[0]);
    first_destroy(a);
    second_destroy(b);
    return 0;
}
