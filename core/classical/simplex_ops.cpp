#include "core/classical/simplex_ops.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

namespace dequnmix {

namespace {

// One slice: n values at stride `inner` from `in` to `out`; v and u hold n values each.
template <typename T>
void projectSlice(const T* in, T* out, int64_t n, int64_t inner, T* v, T* u) {
  T top = in[0];
  for (int64_t i = 0; i < n; ++i) top = std::max(top, v[i] = in[i * inner]);
  for (int64_t i = 0; i < n; ++i) {  // insertion sort, decreasing: n is a few endmembers
    const T x = v[i] - top;
    int64_t k = i;
    for (; k > 0 && u[k - 1] < x; --k) u[k] = u[k - 1];
    u[k] = x;
  }
  double sum = 0;
  T tau = T(-1);  // j = 1 always qualifies (u_1 = 0, cssv_1 = -1)
  for (int64_t j = 1; j <= n; ++j) {
    sum += double(u[j - 1]);
    const T cssv = T(sum) - T(1);
    if (u[j - 1] - cssv / T(j) > T(0)) tau = cssv / T(j);
  }
  for (int64_t i = 0; i < n; ++i) out[i * inner] = std::max(T(v[i] - top) - tau, T(0));
}

// The projection of each slice of n values at stride `inner` (a contiguous tensor's slices
// along an axis: outer x n x inner), as the tensor version below computes it (shift by the
// maximum, sort, cumulative sums in double rounded to T at each step), in one pass per
// slice and in the tensor's own layout: without autograd on the CPU the tensor version's
// dozen whole-tensor operations cost more than the network's output convolution, and
// moving the axis last and back cost as much as the projection.
template <typename T>
void projectSlices(const T* in, T* out, int64_t outer, int64_t n, int64_t inner) {
  at::parallel_for(0, outer * inner, 2048, [&](int64_t begin, int64_t end) {
    std::vector<T> v(size_t(n), T(0)), u(size_t(n), T(0));
    for (int64_t s = begin; s < end;) {
      const int64_t block = s / inner, stop = std::min(end, (block + 1) * inner);
      const int64_t offset = block * n * inner - block * inner;
      for (; s < stop; ++s)
        projectSlice(in + offset + s, out + offset + s, n, inner, v.data(), u.data());
    }
  });
}

}  // namespace

torch::Tensor projectOntoSimplex(const torch::Tensor& values, int64_t dim) {
  TORCH_CHECK(values.defined(), "projectOntoSimplex: undefined tensor");
  TORCH_CHECK(values.is_floating_point(), "projectOntoSimplex: expected a floating tensor, got ",
              values.scalar_type());
  TORCH_CHECK(values.dim() >= 1, "projectOntoSimplex: expected at least one dimension");
  const int64_t d = c10::maybe_wrap_dim(dim, values.dim());
  const int64_t n = values.size(d);
  TORCH_CHECK(n >= 1, "projectOntoSimplex: the simplex axis (dim ", dim, ") is empty");
  if (values.numel() == 0) return values.clone();
  const bool recorded = torch::GradMode::is_enabled() && values.requires_grad();
  if (!recorded && values.device().is_cpu() &&
      (values.scalar_type() == torch::kFloat || values.scalar_type() == torch::kDouble)) {
    const torch::Tensor in = values.contiguous();
    torch::Tensor out = torch::empty_like(in, at::MemoryFormat::Contiguous);
    const int64_t inner = in.stride(d), outer = in.numel() / (n * inner);
    AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "projectOntoSimplex", [&] {
      projectSlices(in.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), outer, n, inner);
    });
    return out;
  }

  // Work on the last axis so that sort, cumsum and gather all act along it. The projection
  // ignores a shift along 1: shifting the largest value to 0 makes u_1 - cssv_1 = 1 exact,
  // where for values beyond 1e8 in float u_1 - 1 rounds to u_1 and no index qualifies.
  const torch::Tensor v =
      values.movedim(d, -1) - std::get<0>(values.detach().movedim(d, -1).max(-1, true));
  // u sorted in decreasing order; sort's values are differentiable (a gather of v).
  const torch::Tensor u = std::get<0>(v.sort(/*dim=*/-1, /*descending=*/true));
  const torch::Tensor cssv = u.cumsum(-1) - 1;  // sum_{i<=j} u_i - 1
  const torch::Tensor j = torch::arange(1, n + 1, v.options().requires_grad(false));
  // The condition u_j - cssv_j / j > 0 holds exactly for j = 1..rho in exact arithmetic
  // (Duchi et al. 2008, Lemma 2). Taking the largest j where it holds, rather than counting,
  // stays correct if rounding breaks the prefix structure. j = 1 always qualifies
  // (u_1 - (u_1 - 1) = 1), so rho >= 1.
  const torch::Tensor positive = (u - cssv / j) > 0;
  const torch::Tensor rho = std::get<0>(
      (positive.to(torch::kLong) * torch::arange(1, n + 1, v.options().dtype(torch::kLong)))
          .max(-1, /*keepdim=*/true));
  // tau is differentiable through the gathered partial sum (the Jacobian of the projection
  // is I - 11^T/rho on the support, 0 elsewhere).
  const torch::Tensor tau = cssv.gather(-1, rho - 1) / rho.to(v.scalar_type());
  return (v - tau).clamp_min(0).movedim(-1, d);
}

}  // namespace dequnmix
