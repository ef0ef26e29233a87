// SPDX-License-Identifier: GPL-2.0-only
// The one CSV writer of the bench (a report's --csv, bench summarize's all.csv): a header, then rows
// of cells, each quoted only when it holds a comma, a quote or a line break.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kecho::bench {

class CsvWriter {
public:
    explicit CsvWriter(const std::vector<std::string>& header);

    CsvWriter& cell(const std::string& text);
    CsvWriter& cell(const char* text) { return cell(std::string(text)); }
    // As an ostream prints it (six significant digits, "nan" for NaN).
    CsvWriter& cell(double value);
    // A JSON value: a string as it is, anything else as JSON; null or missing: an empty cell.
    CsvWriter& cell(const nlohmann::json& value);
    // Ends the row; throws Error when it has not as many cells as the header.
    void end_row();

    std::string str() const { return out_.str(); }

private:
    void separate();

    std::ostringstream out_;
    std::size_t columns_;
    std::size_t in_row_ = 0;
};

}  // namespace kecho::bench
