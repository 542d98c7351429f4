// Validation of forward inputs: every inconsistency is an input_error naming the argument and index.
#pragma once

#include <string>

#include "dsv2/config.hpp"
#include "dsv2/models/forward_args.hpp"

namespace dsv2::detail {

inline std::string index_string(std::int64_t b, std::int64_t s) {
    return "[" + std::to_string(b) + ", " + std::to_string(s) + "]";
}

/// Checks a forward's arguments after `past` cached tokens; returns {B, S}.
inline std::pair<std::int64_t, std::int64_t> check_forward_args(const DeepseekV2Config& cfg, const forward_args& a,
                                                                std::int64_t past = 0) {
    if ((a.input_ids != nullptr) == (a.inputs_embeds != nullptr))
        throw input_error("input_ids/inputs_embeds", a.input_ids ? "give exactly one of them, not both"
                                                                 : "give exactly one of them (neither was given)");
    std::int64_t B = 0, S = 0;
    if (a.input_ids) {
        const auto& ids = *a.input_ids;
        if (ids.rank() != 2) throw input_error("input_ids", "must be [batch, seq], got " + to_string(ids.shape()));
        B = ids.dim(0);
        S = ids.dim(1);
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t s = 0; s < S; ++s) {
                const std::int64_t id = ids(b, s);
                if (id < 0 || id >= cfg.vocab_size)
                    throw input_error("input_ids", "token id " + std::to_string(id) + " at " + index_string(b, s) +
                                                       " is outside [0, " + std::to_string(cfg.vocab_size) + ")");
            }
    } else {
        const auto& e = *a.inputs_embeds;
        if (e.rank() != 3 || e.dim(2) != cfg.hidden_size)
            throw input_error("inputs_embeds", "must be [batch, seq, " + std::to_string(cfg.hidden_size) + "], got " +
                                                   to_string(e.shape()));
        B = e.dim(0);
        S = e.dim(1);
    }
    if (B == 0 || S == 0) throw input_error(a.input_ids ? "input_ids" : "inputs_embeds", "is empty");
    if (past + S > cfg.max_position_embeddings)
        throw input_error(a.input_ids ? "input_ids" : "inputs_embeds",
                          std::to_string(past) + " cached + " + std::to_string(S) + " new tokens exceed max_position_embeddings " +
                              std::to_string(cfg.max_position_embeddings));
    if (a.attention_mask) {
        const auto& m = *a.attention_mask;
        if (m.shape() != shape_t{B, past + S}) {
            const std::string want = to_string(shape_t{B, past + S});
            if (past > 0 || (m.rank() == 2 && m.dim(1) > S))
                throw cache_error("attention_mask: shape " + to_string(m.shape()) + " does not fit the cache: it holds " +
                                  std::to_string(past) + " tokens and " + std::to_string(S) + " are new, so the mask must be " + want);
            throw input_error("attention_mask", "shape " + to_string(m.shape()) + " differs from the input's " + want);
        }
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t s = 0; s < past + S; ++s)
                if (m(b, s) != 0 && m(b, s) != 1)
                    throw input_error("attention_mask", "value " + std::to_string(m(b, s)) + " at " + index_string(b, s) +
                                                            " is neither 0 nor 1");
    }
    if (a.position_ids) {
        const auto& p = *a.position_ids;
        if (p.shape() != shape_t{B, S})
            throw input_error("position_ids", "shape " + to_string(p.shape()) + " differs from the input's " +
                                                  to_string(shape_t{B, S}));
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t s = 0; s < S; ++s)
                if (p(b, s) < 0 || p(b, s) >= cfg.max_position_embeddings)
                    throw input_error("position_ids", "position " + std::to_string(p(b, s)) + " at " + index_string(b, s) +
                                                          " is outside [0, max_position_embeddings = " +
                                                          std::to_string(cfg.max_position_embeddings) + ")");
    }
    return {B, S};
}

}  // namespace dsv2::detail
