// Stop strings matched on decoded text, as transformers' StopStringCriteria decides them: after a
// token, a row stops when one of the strings ends inside the text that token added — the string may
// begin in earlier tokens, and the token may run past its end ("st" + "opera" stops at "stop"), but
// a string that ended before the last token does not count ("stop" + "at" stops at "stop", not at
// "at"). The tokens stay in the output (the matched string is not cut off).
//
// One difference from transformers: only the generated text is searched, never the prompt (a
// string begun in the prompt and finished by the first new token does not match).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace dsv2 {

/// One row's matcher: feed it each token's text with push(); it keeps only the tail it needs.
class stop_string_matcher {
public:
    explicit stop_string_matcher(const std::vector<std::string>& stops) : stops_(stops) {
        for (const auto& s : stops_) longest_ = std::max(longest_, s.size());
    }

    /// The text that one token completed; true when a stop string ends inside it.
    bool push(std::string_view piece) {
        if (piece.empty() || stops_.empty()) return false;
        const std::size_t before = tail_.size();
        tail_.append(piece);
        bool hit = false;
        for (const auto& s : stops_) {
            // an occurrence ending after `before`, i.e. starting after before − |s|
            const std::size_t from = before >= s.size() ? before - s.size() + 1 : 0;
            if (tail_.find(s, from) != std::string::npos) {
                hit = true;
                break;
            }
        }
        // keep the last longest − 1 bytes: enough for a string that ends in the next piece
        const std::size_t keep = longest_ > 0 ? longest_ - 1 : 0;
        if (tail_.size() > keep) tail_.erase(0, tail_.size() - keep);
        return hit;
    }

private:
    std::vector<std::string> stops_;
    std::size_t longest_ = 0;
    std::string tail_;
};

}  // namespace dsv2
