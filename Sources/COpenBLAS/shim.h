#include <cblas.h>
#include <stddef.h>

// LAPACK's symmetric eigensolver, as OpenBLAS exports it (Fortran calling convention: every
// argument by pointer, the lengths of the character arguments last).
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w,
             float *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);
