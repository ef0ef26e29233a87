// SPDX-License-Identifier: GPL-2.0-only
// summary.md's ranking tables: a file's rows, each server at its configuration, best first, with its
// 95% interval, its ratio to the best user-space server with the ratio's interval and the verdict
// (bench/stats.h), the servers that failed validation last; and the ranking line under a table.
#include <algorithm>
#include <set>

#include "summary_files.h"

namespace kecho::bench::summary {
namespace {

// The best user-space row of a file (its baseline), nullptr when none is there that did not fail.
const json* best_user_row(const ResultFile& f, const Failures& failures) {
    const json* best = nullptr;
    for (const auto& m : f.doc["modes"]) {
        if (!is_user(server_of(m)) || failures.count(server_of(m)) || m.value("runs", json::array()).empty()) continue;
        if (!best || better(median_of(m, primary_of(f)), median_of(*best, primary_of(f)), lower_is_better(f)))
            best = &m;
    }
    return best;
}

// A file's rows that did not fail, best first.
std::vector<const json*> ranked(const ResultFile& f, const Failures& failures) {
    std::vector<const json*> rows;
    for (const auto& m : f.doc["modes"])
        if (!failures.count(server_of(m)) && !m.value("runs", json::array()).empty()) rows.push_back(&m);
    std::stable_sort(rows.begin(), rows.end(), [&](const json* a, const json* b) {
        return better(median_of(*a, primary_of(f)), median_of(*b, primary_of(f)), lower_is_better(f));
    });
    return rows;
}

}  // namespace

// "bpf > uring = user > splice": each server after the one above it, `>` when their intervals are
// apart, `=` when they overlap (a tie), `?` when either has none.
std::string ranking_line(const ResultFile& f, const Failures& failures) {
    const auto rows = ranked(f, failures);
    std::string line;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (i > 0) {
            const Verdict v =
                compare(stat_of(*rows[i - 1], primary_of(f)), stat_of(*rows[i], primary_of(f)), lower_is_better(f));
            line += v == Verdict::better ? " > " : v == Verdict::unranked ? " ? " : " = ";
        }
        line += server_of(*rows[i]);
    }
    return line;
}

std::string rank_statement(const ResultFile& f, const Failures& failures) {
    const auto rows = ranked(f, failures);
    std::vector<std::string> open;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        const Stat a = stat_of(*rows[i - 1], primary_of(f)), b = stat_of(*rows[i], primary_of(f));
        const Verdict v = compare(a, b, lower_is_better(f));
        if (v == Verdict::better) continue;
        open.push_back(
            server_of(*rows[i - 1]) + " against " + server_of(*rows[i]) + " (" +
            (v == Verdict::tie ? "a tie: their 95% intervals overlap after " : "unranked: ") + std::to_string(a.runs) +
            " and " + std::to_string(b.runs) + " runs" +
            (v == Verdict::tie ? "" : ", fewer than " + std::to_string(runs_for_interval) + " give no interval") + ")");
    }
    if (rows.size() < 2) return "Nothing to rank.";
    if (open.empty()) return "Every server ranks: each one's 95% interval is apart from the next one's.";
    return "It cannot rank " + join(open, "; ") + ".";
}

// A ranking table's rows of one file: server, configuration, figure, runs, ratio, verdict, the columns,
// noisy; ranked rows first, then the servers that failed validation (FAILED, where, no figure).
std::vector<std::vector<std::string>> ranking_rows(const ResultFile& f, const Failures& failures,
                                                   const std::vector<Column>& columns, int decimals) {
    std::vector<std::vector<std::string>> rows;
    const json* base = best_user_row(f, failures);
    const std::string key = primary_of(f);
    for (const json* m : ranked(f, failures)) {
        const Entry e{&f, m};
        const Stat s = stat_of(*m, key);
        std::vector<std::string> row = {server_of(*m), configuration_of(e), format_estimate(s, decimals),
                                        std::to_string(m->value("runs", json::array()).size())};
        if (!base)
            row.insert(row.end(), {"-", "-"});
        else if (m == base)
            row.insert(row.end(), {"1.00x", "baseline"});
        else
            row.insert(row.end(), {format_ratio(ratio_of(s, stat_of(*base, key))),
                                   verdict_name(compare(s, stat_of(*base, key), lower_is_better(f)))});
        for (const auto& c : columns) row.push_back(format_number(median_of(*m, c.key), c.decimals));
        row.push_back(noisy_of(*m));
        rows.push_back(std::move(row));
    }
    std::set<std::string> listed;
    for (const auto& m : f.doc["modes"])
        if (failures.count(server_of(m)) && listed.insert(server_of(m)).second) {
            std::vector<std::string> row = {server_of(m), "-", failure_in(f, failures, server_of(m)),
                                            "-",          "-", "not ranked"};
            row.insert(row.end(), columns.size() + 1, "-");
            rows.push_back(std::move(row));
        }
    return rows;
}

std::vector<std::string> ranking_headings(const std::string& figure, const std::vector<Column>& columns) {
    std::vector<std::string> h = {"server", "configuration",           figure + " median [95% interval]",
                                  "runs",   "vs best user [interval]", "verdict"};
    for (const auto& c : columns) h.push_back(c.heading);
    h.push_back("noisy");
    return h;
}

}  // namespace kecho::bench::summary
