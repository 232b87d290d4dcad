// LibTorch side of subspace.h, shared by its estimators and by VCA.
#pragma once

#include <ATen/ATen.h>

#include <utility>
#include <vector>

namespace dequnmix {

// A double tensor holding a copy of row-major `values` in the given shape.
at::Tensor doubleTensor(const std::vector<double>& values, at::IntArrayRef shape);

// Top-k eigenpairs (values, vectors as columns) of a symmetric matrix, eigenvalues
// decreasing. Each eigenvector is normalised to have its largest-magnitude entry positive:
// LAPACK's signs are arbitrary and VCA's search depends on them, so the result then does
// not depend on the LAPACK build.
std::pair<at::Tensor, at::Tensor> topEigenpairs(const at::Tensor& symmetric, int k);

// The inverse of a correlation matrix K with a tiny ridge (1e-12 of its mean diagonal), which
// keeps K invertible on noise-free data.
at::Tensor ridgedInverse(const at::Tensor& correlation);

// HySime's noise of each band: the residual variance of least squares on the other bands,
// 1 / (K^-1)_ii (Bioucas-Dias and Nascimento, 2008). L values.
at::Tensor regressionNoiseVariances(const at::Tensor& correlation);

}  // namespace dequnmix
