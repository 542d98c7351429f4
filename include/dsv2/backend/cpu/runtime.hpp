// backend_runtime<cpu, Weights>: the CPU backend's runtime and forward pass (backend/runtime.hpp
// says what every backend provides) — nothing beyond the loaded host weights: the CPU runs on them
// directly. Its primitives work on Eigen matrices [B·S, H] (token b·S + s).
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/backend/cpu/matmul.hpp"
#include "dsv2/backend/cpu/rmsnorm.hpp"
#include "dsv2/backend/runtime.hpp"
#include "dsv2/config.hpp"
#include "dsv2/core/forward_batch.hpp"
#include "dsv2/core/tensor.hpp"

namespace dsv2 {

/// One forward on the CPU: the batch it runs on.
struct cpu_forward_pass {
    using backend = cpu;
    using hidden = cpu::matrix;  // [B·S, H]

    forward_batch batch;
};

template <class Weights>
class backend_runtime<cpu, Weights> {
public:
    using forward_pass = cpu_forward_pass;
    using weights_type = Weights;

    backend_runtime(const DeepseekV2Config&, std::shared_ptr<const Weights> weights) : weights_(std::move(weights)) {}

    template <class F>
    decltype(auto) visit_weights(F&& f) const {
        return std::forward<F>(f)(*weights_);
    }
    cpu_forward_pass begin(forward_batch batch) const { return {std::move(batch)}; }

    template <class Cache>
    Cache make_cache(const DeepseekV2Config& cfg, std::int64_t batch, const void* model) const {
        return Cache(cfg, batch, model);
    }

private:
    std::shared_ptr<const Weights> weights_;
};

/// x [B·S, H]: rows of `table` [vocab, H] for ids [B, S], or the embeddings [B, S, H] as given.
inline cpu::matrix embed(const cpu_forward_pass& pass, const cpu_weight& table, const tensor<std::int64_t>* ids,
                         const tensor<float>* embeds) {
    const std::int64_t T = pass.batch.batch * pass.batch.new_tokens, H = table.cols();
    cpu::matrix x(T, H);
    if (ids) {
        for (std::int64_t t = 0; t < T; ++t) table.row_to_f32(ids->data()[t], x.row(t).data());
    } else {
        x = cpu::const_matrix_map(embeds->data(), T, H);
    }
    return x;
}

/// rmsnorm(x) ⊙ weight, a new matrix.
inline cpu::matrix normed(const cpu_forward_pass&, const cpu::matrix& x, const cpu::vector& weight, double eps) {
    return rmsnorm(cpu{}, x, weight, eps);
}

inline void normalize_inplace(const cpu_forward_pass&, cpu::matrix& x, const cpu::vector& weight, double eps) {
    rmsnorm_inplace(cpu{}, x, weight, eps);
}

/// x += y (the residual connection).
inline void add_residual(const cpu_forward_pass&, cpu::matrix& x, const cpu::matrix& y) { x += y; }

/// x as a host tensor of `shape` (a copy).
inline tensor<float> to_host_tensor(const cpu_forward_pass&, const cpu::matrix& x, shape_t shape) {
    return tensor<float>(std::move(shape), std::vector<float>(x.data(), x.data() + x.size()));
}

/// [R, out] = hidden[rows] [R, H] · weightᵀ: a head on some rows of the final hidden states.
inline cpu::matrix project_rows(const cpu_forward_pass&, const cpu::matrix& hidden, const std::vector<std::int64_t>& rows,
                                const cpu_weight& weight) {
    cpu::matrix picked(static_cast<Eigen::Index>(rows.size()), hidden.cols());  // [R, H]
    for (std::size_t i = 0; i < rows.size(); ++i) picked.row(static_cast<Eigen::Index>(i)) = hidden.row(rows[i]);
    cpu::matrix out;
    matmul_nt(cpu{}, picked, weight, out);
    return out;
}

static_assert(backend_runtime_for<backend_runtime<cpu, void>, cpu_forward_pass>);

}  // namespace dsv2
