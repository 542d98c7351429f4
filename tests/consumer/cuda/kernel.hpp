// The CUDA half of the consumer, callable from plain C++.
#pragma once

#include <dsv2/model.hpp>

#include <string>

/// Scales 0..n-1 by cfg.softmax_scale() on the device and checks the result. Returns false and sets
/// `why` when there is no usable CUDA device (not an error for this test); throws on a wrong result.
bool scale_on_device(const dsv2::DeepseekV2Config& cfg, int n, std::string& why);
