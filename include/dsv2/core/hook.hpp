// What the policy hooks share: a false that depends on template parameters, so that a primary
// template's static_assert fires only when it is instantiated (for a pair nobody specialised).
#pragma once

namespace dsv2::detail {

template <class...>
inline constexpr bool unimplemented_pair = false;

}  // namespace dsv2::detail
