// SPDX-License-Identifier: GPL-2.0-only
#include "modules/module_tree.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include "kernel/module_state.hpp"
#include "kernel/netns.hpp"

namespace nfsleuth {

namespace fs = std::filesystem;

namespace {

std::string normalized(std::string name) {
    std::replace(name.begin(), name.end(), '-', '_');
    return name;
}

ModuleNode read_node(const fs::path& dir, const std::string& module, const std::vector<std::string>& builtin_list,
                     std::set<std::string>& expanded) {
    ModuleNode node;
    node.name = normalized(module);
    const fs::path here = dir / node.name;
    std::error_code ec;
    if (fs::exists(here / "initstate", ec)) {
        node.state = ModuleState::loaded;
        node.refcnt = read_number_file((here / "refcnt").string());
    } else {
        const bool listed = std::any_of(builtin_list.begin(), builtin_list.end(),
                                        [&](const std::string& p) { return module_name_from_path(p) == node.name; });
        // Built-in modules have a sysfs directory only when they have
        // parameters; modules.builtin lists them all.
        node.state = listed || fs::exists(here, ec) ? ModuleState::builtin : ModuleState::absent;
        return node;
    }
    if (!expanded.insert(node.name).second) return node;
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(here / "holders", ec)) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    for (const auto& holder : names) node.holders.push_back(read_node(dir, holder, builtin_list, expanded));
    return node;
}

void post_order(const ModuleNode& node, std::vector<std::string>& out) {
    for (const auto& h : node.holders) post_order(h, out);
    if (node.state == ModuleState::loaded && std::find(out.begin(), out.end(), node.name) == out.end())
        out.push_back(node.name);
}

// A module reached twice has its holders only in its first (depth-first)
// appearance: only that one is judged.
void collect_blockers(const ModuleNode& node, std::set<std::string>& seen, std::vector<std::string>& out) {
    if (!seen.insert(node.name).second) return;
    if (uint64_t n = node.other_users())
        out.push_back(node.name + " (" + std::to_string(n) + " other user" + (n == 1 ? "" : "s") + ")");
    for (const auto& h : node.holders) collect_blockers(h, seen, out);
}

}  // namespace

uint64_t ModuleNode::other_users() const {
    if (state != ModuleState::loaded || !refcnt) return 0;
    return *refcnt > holders.size() ? *refcnt - holders.size() : 0;
}

bool module_available(const std::string& name) {
    if (!KernelProbe::modules_supported() || module_state(name, "") != ModuleState::absent) return true;
    const auto builtin = builtin_modules();
    return std::any_of(builtin.begin(), builtin.end(),
                       [&](const std::string& line) { return module_name_from_path(line) == name; });
}

std::string module_name_from_path(const std::string& path) {
    std::string file = fs::path(path).filename();
    for (const char* ext : {".ko.xz", ".ko.zst", ".ko.gz", ".ko"}) {
        const std::string e(ext);
        if (file.size() > e.size() && file.compare(file.size() - e.size(), e.size(), e) == 0) {
            file.erase(file.size() - e.size());
            break;
        }
    }
    return normalized(file);
}

ModuleNode read_module_tree(const std::string& sysfs_module_dir, const std::string& module,
                            const std::vector<std::string>& builtin_list) {
    std::set<std::string> expanded;
    return read_node(sysfs_module_dir, module, builtin_list, expanded);
}

std::vector<std::string> unload_order(const ModuleNode& root) {
    std::vector<std::string> out;
    post_order(root, out);
    return out;
}

std::vector<std::string> blockers(const ModuleNode& root) {
    std::set<std::string> seen;
    std::vector<std::string> out;
    collect_blockers(root, seen, out);
    return out;
}

std::vector<std::string> modprobe_d_lines(const std::vector<std::string>& modules) {
    std::vector<std::string> out;
    for (const auto& m : modules) {
        out.push_back("blacklist " + m);
        out.push_back("install " + m + " /bin/false");
    }
    return out;
}

}  // namespace nfsleuth
