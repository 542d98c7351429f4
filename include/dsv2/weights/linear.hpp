// linear<S, P> (one nn.Linear) and gated_mlp<S> (gate, up, down): the smallest pieces of the
// weights tree, over any storage S (weights/storage.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "dsv2/weights/storage.hpp"

namespace dsv2 {

/// weight [out, in] and an optional bias [out] (size 0 when absent).
template <class S, class Precision = as_loaded>
struct linear {
    matrix_t<S, Precision> weight;  // [out, in]
    vector_t<S> bias;               // [out] or empty

    std::int64_t in_features() const noexcept { return weight.cols(); }
    std::int64_t out_features() const noexcept { return weight.rows(); }
    bool has_bias() const noexcept { return bias.size() != 0; }

    static linear allocate(std::int64_t out, std::int64_t in, bool bias) {
        return {S::template shape_only<Precision>(out, in), S::vector_of(bias ? out : 0, 0.0f)};
    }

    /// f(name, kind, parameter of each tree...) for "<name>.weight" and "<name>.bias".
    template <class F, class... Trees>
    static void visit(const std::string& name, F&& f, Trees&... t) {
        f(name + ".weight", parameter_kind::weight, t.weight...);
        if (detail::first_tree(t...).has_bias()) f(name + ".bias", parameter_kind::bias, t.bias...);
    }
};

/// down( act(gate(x)) ⊙ up(x) ): dense layers, shared experts, DeepSeek's routed experts.
template <class S>
struct gated_mlp {
    linear<S> gate_proj;  // [I, H]
    linear<S> up_proj;    // [I, H]
    linear<S> down_proj;  // [H, I]

    std::int64_t intermediate_size() const noexcept { return gate_proj.out_features(); }

    static gated_mlp allocate(std::int64_t hidden, std::int64_t inter, bool bias) {
        return {linear<S>::allocate(inter, hidden, bias), linear<S>::allocate(inter, hidden, bias),
                linear<S>::allocate(hidden, inter, bias)};
    }

    template <class F, class... Trees>
    static void visit(const std::string& name, F&& f, Trees&... t) {
        linear<S>::visit(name + ".gate_proj", f, t.gate_proj...);
        linear<S>::visit(name + ".up_proj", f, t.up_proj...);
        linear<S>::visit(name + ".down_proj", f, t.down_proj...);
    }
};

}  // namespace dsv2
