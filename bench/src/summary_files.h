// SPDX-License-Identifier: GPL-2.0-only
// bench summarize's reading of a results directory (summary_files.cpp), shared by its sections
// (summary_sections.cpp) and figures (summary.cpp): the files the manifest declares, each with its
// role and parameters, and what every section asks of a file's rows.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/results.h"

namespace kecho::bench::summary {

using nlohmann::json;

// One bench --json comparison file of the directory, with its manifest entry.
struct ResultFile {
    std::string name;  // file name without .json: "pingpong-c64"
    json doc;
    json entry;  // {"file": ..., "role": ..., parameters}
};

// A row (one "modes" entry) of a file.
struct Entry {
    const ResultFile* file = nullptr;
    const json* mode = nullptr;
};

// What summarize read: the manifest, its comparison files (sorted by name) and verify results.
struct Results {
    std::string dir;
    json manifest;
    std::vector<ResultFile> files;
    std::vector<ResultFile> verify;  // bench verify --json files (cases per server)
};

// The manifest's comparison files (roles sweep, closed-loop, reference, open-loop, stream, burst)
// and verify files; Error when the manifest is missing or malformed.
Results load_results(const std::string& dir);

// The manifest's entries of one role, in its order.
std::vector<json> manifest_entries(const json& manifest, const std::string& role);

bool has_role(const ResultFile& f, const std::string& role);
// Every row of every file of a role; of a workload too when one is given (the sweeps hold several).
std::vector<Entry> entries_of(const std::vector<ResultFile>& files, const std::string& role,
                              const std::string& workload = "");

double number_at(const json& object, const std::string& key);  // NaN when missing
Stat stat_of(const json& mode, const std::string& key);        // from the row's summary
double median_of(const json& mode, const std::string& key);
std::string noisy_of(const json& mode);
std::string server_of(const json& mode);  // the server a row is a configuration of
bool failed(const json& mode);
int connections_of(const ResultFile& f);
double rate_of(const ResultFile& f);
bool lower_is_better(const ResultFile& f);
std::string primary_of(const ResultFile& f);
// From the file's comparison descriptor (comparison.h): its place in the descriptors' order (files
// of other workloads after them), its primary metric's heading ("req/s", "MB/s back", ...), the
// decimals it is shown with, and the workload in words ("pingpong, 64 connections", "burst").
int workload_order(const ResultFile& f);
std::string primary_label(const ResultFile& f);
int primary_decimals(const ResultFile& f);
std::string workload_in_words(const ResultFile& f);

// The row's server and client configuration in words: "2 server threads x 4 client workers (epoll)",
// "2 accept threads x 8 client workers", "as started x blocking client".
std::string configuration_of(const Entry& e);
// The client's column heading in a sweep: "blocking", "4 workers", "1000 threads".
std::string client_of(const Entry& e);

bool is_reference(const std::string& server);  // the registry's busy-poll reference
bool is_user(const std::string& server);       // the registry's user-space servers

// The servers that failed validation somewhere, each with every place, in order: a verify case
// ("verify concurrent-200: <detail>"), then rows of comparisons ("pingpong at 64 connections: <first
// error>").
using Failures = std::map<std::string, std::vector<std::string>>;
Failures failed_servers(const Results& results);
// A failed server's cell in a file's table: "FAILED at 64 connections: <its first error there>", or
// where it failed first when that file's runs passed.
std::string failure_in(const ResultFile& f, const Failures& failures, const std::string& server);

// A ranking table (summary_rank.cpp): one file's rows, each server at its configuration, best first:
// server, configuration, the figure with its 95% interval, runs, the ratio to the best user-space
// server with its interval, the verdict, then `columns` (medians) and noisy; the servers that failed
// validation last (FAILED with where, no figure, not ranked).
struct Column {
    std::string heading, key;
    int decimals;
};
std::vector<std::vector<std::string>> ranking_rows(const ResultFile& f, const Failures& failures,
                                                   const std::vector<Column>& columns, int decimals);
std::vector<std::string> ranking_headings(const std::string& figure, const std::vector<Column>& columns);
// "bpf > uring = user > splice": best first, `>` where two neighbours' intervals are apart, `=` for
// a tie (they overlap), `?` where either has no interval.
std::string ranking_line(const ResultFile& f, const Failures& failures);
// Whether the file ranks every server, or which neighbours it cannot rank and why, in a sentence.
std::string rank_statement(const ResultFile& f, const Failures& failures);

// The open-loop rows: latency against offered load, per server by offered rate.
std::map<std::string, std::vector<Entry>> load_points(const std::vector<ResultFile>& files);

// "64 KiB"
std::string size_text(std::uint64_t bytes);
// "| a | b |\n" and a markdown table (headings, separator, rows).
std::string md_row(const std::vector<std::string>& cells);
std::string md_table(const std::vector<std::string>& headings, const std::vector<std::vector<std::string>>& rows);

// all.csv: one row per mode x workload x connections x run of every comparison file.
std::string results_csv(const std::vector<ResultFile>& files);

// summary.md's text (summary_sections.cpp).
std::string summary_markdown(const Results& results);

}  // namespace kecho::bench::summary
