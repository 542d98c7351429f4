// per_token_router<Router>: router_impl<Router, cpu> for a router whose math is one token at a time
// on the host — Router::select(weights, params, logits row [E] (scratch: it may score in place),
// idx [k], weight [k]). The logits x·gateᵀ are one fp32 GEMM over all tokens first.
//
//     template <> struct dsv2::router_impl<my_router, dsv2::cpu> : dsv2::per_token_router<my_router> {};
#pragma once

#include <span>

#include "dsv2/backend/cpu/matmul.hpp"
#include "dsv2/backend/cpu/storage.hpp"
#include "dsv2/moe/router_impl.hpp"

namespace dsv2 {

template <class Router>
struct per_token_router {
    using weights_type = typename Router::template weights<host_storage>;

    /// x [T, H] -> the k experts of each token and their weights.
    template <class Pass>
    static routing_result route(const Pass&, const weights_type& w, const routing_params& p, const cpu::matrix& x) {
        cpu::matrix logits;
        matmul_nt(cpu{}, x, w.weight, logits);  // [T, E] in fp32
        routing_result r;
        r.expert.resize(static_cast<std::size_t>(x.rows() * p.top_k));
        r.weight.resize(r.expert.size());
        for (Eigen::Index t = 0; t < x.rows(); ++t) {
            std::span<float> row(logits.row(t).data(), static_cast<std::size_t>(p.experts));
            Router::select(w, p, row, r.expert.data() + t * p.top_k, r.weight.data() + t * p.top_k);
        }
        return r;
    }
};

}  // namespace dsv2
