// SPDX-License-Identifier: GPL-2.0-only
// The CSV writer and a report's CSV: one row per target and run, with where it ran on every row.
#include "bench/csv.h"

#include "bench/results.h"
#include "kecho/error.h"

namespace kecho::bench {

CsvWriter::CsvWriter(const std::vector<std::string>& header) : columns_(header.size()) {
    for (const auto& name : header) cell(name);
    end_row();
}

void CsvWriter::separate() {
    if (in_row_++ > 0) out_ << ",";
}

CsvWriter& CsvWriter::cell(const std::string& text) {
    separate();
    if (text.find_first_of(",\"\n\r") == std::string::npos) {
        out_ << text;
        return *this;
    }
    out_ << '"';
    for (char c : text) out_ << (c == '"' ? "\"\"" : std::string(1, c));
    out_ << '"';
    return *this;
}

CsvWriter& CsvWriter::cell(double value) {
    separate();
    out_ << value;
    return *this;
}

CsvWriter& CsvWriter::cell(const nlohmann::json& value) {
    if (value.is_null()) return cell(std::string());
    return cell(value.is_string() ? value.get<std::string>() : value.dump());
}

void CsvWriter::end_row() {
    if (in_row_ != columns_)
        throw Error("a CSV row has " + std::to_string(in_row_) + " cells for " + std::to_string(columns_) + " columns");
    out_ << "\n";
    in_row_ = 0;
}

std::string report_csv(const Report& report) {
    // Where it ran and the client, on every row (the CSV must stand alone).
    const std::vector<std::string> run_keys = {"version", "git_commit", "kernel", "online_cpus", "started_utc"};
    const std::vector<std::string> client_keys = {"workers", "engine", "cpus", "layout"};
    const nlohmann::json client = report.run.value("client", nlohmann::json::object());
    auto field = [](const nlohmann::json& object, const std::string& key) {
        return object.contains(key) ? object[key] : nlohmann::json();
    };
    std::vector<std::string> header = {"workload", "mode", "run"};
    header.insert(header.end(), run_keys.begin(), run_keys.end());
    for (const auto& k : client_keys) header.push_back(k == "layout" ? k : "client_" + k);
    for (const auto& [key, value] : report.config.items()) header.push_back(key);
    for (const auto& m : report.workload.metrics) header.push_back(m.key);
    CsvWriter csv(header);
    for (const auto& mode : report.modes) {
        for (std::size_t r = 0; r < mode.runs.size(); ++r) {
            csv.cell(report.workload.name).cell(mode.target.name).cell(static_cast<double>(r + 1));
            for (const auto& k : run_keys) csv.cell(field(report.run, k));
            for (const auto& k : client_keys) csv.cell(field(client, k));
            for (const auto& [key, value] : report.config.items()) csv.cell(value);
            for (const auto& m : report.workload.metrics) {
                auto it = mode.runs[r].find(m.key);
                if (it == mode.runs[r].end())
                    csv.cell(std::string());
                else
                    csv.cell(it->second);
            }
            csv.end_row();
        }
    }
    return csv.str();
}

}  // namespace kecho::bench
