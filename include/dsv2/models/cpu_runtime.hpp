// The CPU backend's runtime and forward pass (see models/backend_runtime.hpp): the blocks the
// decoder calls, on Eigen matrices [B·S, H] (token b·S + s), over the loaded weights themselves.
#pragma once

#include <memory>
#include <vector>

#include "dsv2/attention/mla_absorbed.hpp"
#include "dsv2/attention/mla_expanded.hpp"
#include "dsv2/backend/cpu/cpu.hpp"
#include "dsv2/layers/rmsnorm.hpp"
#include "dsv2/models/backend_runtime.hpp"
#include "dsv2/models/decoder_plan.hpp"
#include "dsv2/models/forward_batch.hpp"
#include "dsv2/models/model_weights.hpp"
#include "dsv2/moe/moe_layer.hpp"

namespace dsv2 {

/// One forward on the CPU: the batch it runs on.
struct cpu_forward_pass {
    using backend = cpu;
    using hidden = cpu::matrix;  // [B·S, H]

    forward_batch batch;
};

template <>
class backend_runtime<cpu> {
public:
    using forward_pass = cpu_forward_pass;

    backend_runtime(const DeepseekV2Config&, std::shared_ptr<const cpu_model_weights> weights)
        : weights_(std::move(weights)) {}

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
    std::shared_ptr<const cpu_model_weights> weights_;
};

/// x [B·S, H]: the token embeddings of input_ids, or inputs_embeds as given.
inline cpu::matrix embed_tokens(const cpu_forward_pass& pass, const cpu_model_weights& w, const forward_args& args) {
    const std::int64_t T = pass.batch.batch * pass.batch.new_tokens, H = w.embed_tokens.cols();
    cpu::matrix x(T, H);
    if (args.input_ids) {
        for (std::int64_t t = 0; t < T; ++t) w.embed_tokens.row_to_f32(args.input_ids->data()[t], x.row(t).data());
    } else {
        x = cpu::const_matrix_map(args.inputs_embeds->data(), T, H);
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

/// The attention sub-block on normed h [B·S, H]: mla_forward of the policy, over `cache` (a layer
/// of the policy's cache, or null); probs [B, n_h, S, P+S] when asked for.
template <class Attention, class LayerCache>
cpu::matrix attention_block(const cpu_forward_pass& pass, Attention policy, const cpu_mla_weights& w,
                            const decoder_plan& plan, LayerCache* cache, tensor<float>* probs, const cpu::matrix& h) {
    return mla_forward(cpu{}, policy, w, plan.attention, plan.rope, h, pass.batch.view(), cache, probs);
}

/// The feed-forward sub-block on normed h [B·S, H]: a dense gated MLP ...
template <class Router>
cpu::matrix feed_forward_block(const cpu_forward_pass&, Router, const cpu_gated_mlp& w, const decoder_plan& plan,
                               const cpu::matrix& h) {
    cpu::matrix y;
    gated_mlp_forward(cpu{}, w, plan.act, h, y);
    return y;
}

/// ... or a DeepSeekMoE layer.
template <class Router>
cpu::matrix feed_forward_block(const cpu_forward_pass&, Router router, const cpu_moe_weights& w,
                               const decoder_plan& plan, const cpu::matrix& h) {
    cpu::matrix y;
    moe_forward(cpu{}, router, w, plan.routing, plan.act, h, y);
    return y;
}

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

}  // namespace dsv2
