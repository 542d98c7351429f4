// Activation functions named as config.json's `hidden_act`.
#pragma once

#include <cmath>
#include <string_view>

#include "dsv2/core/error.hpp"

namespace dsv2 {

enum class activation { silu, gelu, gelu_tanh, relu };

/// "silu"/"swish", "gelu" (erf), "gelu_pytorch_tanh"/"gelu_new" (tanh approximation), "relu".
inline activation parse_activation(std::string_view name) {
    if (name == "silu" || name == "swish") return activation::silu;
    if (name == "gelu") return activation::gelu;
    if (name == "gelu_pytorch_tanh" || name == "gelu_new") return activation::gelu_tanh;
    if (name == "relu") return activation::relu;
    throw config_error("hidden_act", "'" + std::string(name) +
                                         "' is not supported (silu, gelu, gelu_pytorch_tanh, gelu_new, relu)");
}

inline float apply(activation a, float z) noexcept {
    switch (a) {
        case activation::silu: return z / (1.0f + std::exp(-z));
        case activation::gelu: return 0.5f * z * (1.0f + std::erf(z * 0.70710678118654752f));
        case activation::gelu_tanh: {
            const float inner = 0.79788456080286536f * (z + 0.044715f * z * z * z);
            return 0.5f * z * (1.0f + std::tanh(inner));
        }
        case activation::relu: return z > 0.0f ? z : 0.0f;
    }
    return z;
}

}  // namespace dsv2
