// SPDX-License-Identifier: GPL-2.0-only
// nfsl-naming: what naming a process's cgroup costs on the event path, on a
// node the size of a busy Kubernetes node. Builds a kubelet log tree
// (pods, each with three containers and their links) in a directory of its
// own, and a cgroup tree of the same shape twice: as plain directories
// (found only by walking them) and, as root, in the real cgroup2 hierarchy
// (found by file handle). Prints one JSON object per measurement:
//   {"what": ..., "median_us": ..., "max_us": ..., "runs": ...}
// Usage: nfsl-naming [PODS]   (default 500)

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernel/cgroups.hpp"
#include "process/cgroup_identity.hpp"

namespace fs = std::filesystem;
using nfsleuth::CgroupPaths;
using nfsleuth::PodDirectories;
using nfsleuth::PodNames;
using nfsleuth::Workload;

namespace {

using Clock = std::chrono::steady_clock;

void report(const char* what, std::vector<double> us) {
    std::sort(us.begin(), us.end());
    std::printf("{\"what\":\"%s\",\"median_us\":%.3f,\"max_us\":%.3f,\"runs\":%zu}\n", what, us[us.size() / 2],
                us.back(), us.size());
    std::fflush(stdout);
}

// Each call's time in microseconds.
std::vector<double> time_each(int runs, const std::function<void(int)>& call) {
    std::vector<double> us;
    for (int i = 0; i < runs; ++i) {
        const auto start = Clock::now();
        call(i);
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    return us;
}

std::string uid_of(int pod) {
    char uid[40];
    std::snprintf(uid, sizeof uid, "%08x-0000-4000-8000-%012x", pod, pod);
    return uid;
}

std::string id_of(int pod, int container) {
    char id[65];
    std::snprintf(id, sizeof id, "%016x%016x%016x%016x", pod, container, pod ^ 0x5a5a, container + 7);
    return id;
}

// The cgroup of a container as the kubelet's systemd driver names it.
std::string container_cgroup(int pod, int container) {
    std::string uid = uid_of(pod);
    std::replace(uid.begin(), uid.end(), '-', '_');
    return "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid + ".slice/cri-containerd-" +
           id_of(pod, container) + ".scope";
}

uint64_t inode(const fs::path& p) {
    struct stat st{};
    return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

std::optional<std::string> cgroup2_mount() {
    std::ifstream mounts("/proc/self/mounts");
    std::string device, dir, type, rest;
    while (mounts >> device >> dir >> type && std::getline(mounts, rest))
        if (type == "cgroup2") return dir;
    return std::nullopt;
}

// Removes a cgroup tree deepest first (cgroupfs refuses recursive removal).
void remove_cgroups(const fs::path& top) {
    std::vector<fs::path> dirs;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(top, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_directory(ec)) dirs.push_back(it->path());
    std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) { return a.native() > b.native(); });
    for (const auto& d : dirs) ::rmdir(d.c_str());
    ::rmdir(top.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    const int pods = argc > 1 ? std::atoi(argv[1]) : 500;
    constexpr int containers = 3;
    if (pods <= 0) {
        std::fprintf(stderr, "usage: nfsl-naming [PODS]\n");
        return 2;
    }
    char pattern[] = "/tmp/nfsl-naming-XXXXXX";
    if (!::mkdtemp(pattern)) return 1;
    const fs::path work = pattern;
    const PodDirectories dirs{(work / "pods").string(), (work / "containers").string()};
    fs::create_directories(dirs.containers);
    for (int p = 0; p < pods; ++p) {
        const fs::path pod = fs::path(dirs.pods) / ("bench_pod-" + std::to_string(p) + "_" + uid_of(p));
        for (int c = 0; c < containers; ++c) {
            const std::string name = "c" + std::to_string(c);
            fs::create_directories(pod / name);
            fs::create_symlink(pod / name / "0.log", fs::path(dirs.containers) / ("pod-" + std::to_string(p) + "_bench_" +
                                                                                 name + "-" + id_of(p, c) + ".log"));
        }
    }

    // The kubelet's directories read once, as the reader thread does.
    report("pod directories read (whole node)",
           time_each(20, [&](int) { (void)nfsleuth::read_pod_directories(dirs); }));

    // The event path: names from the last reading, hit and miss.
    PodNames names(dirs);
    report("pod name, known pod", time_each(10000, [&](int i) {
               Workload w = nfsleuth::parse_cgroup_path("/" + container_cgroup(i % pods, i % containers));
               names.name(w);
           }));
    report("pod name, unknown pod (asks the reader, does not wait)", time_each(1000, [&](int i) {
               Workload w = nfsleuth::parse_cgroup_path("/" + container_cgroup(pods + i, 0));
               names.name(w);
           }));

    // cgroup paths: a plain tree can only be walked.
    const fs::path plain = work / "cgroups";
    for (int p = 0; p < pods; ++p)
        for (int c = 0; c < containers; ++c) fs::create_directories(plain / container_cgroup(p, c));
    report("cgroup path, first sight by walking the tree", time_each(20, [&](int i) {
               CgroupPaths paths(plain.string());
               (void)paths.lookup(inode(plain / container_cgroup(i % pods, 0)));
           }));

    if (auto root = cgroup2_mount(); root && ::geteuid() == 0) {
        const fs::path top = fs::path(*root) / ("nfsl-naming-" + std::to_string(::getpid()));
        std::error_code ec;
        fs::create_directory(top, ec);
        std::vector<uint64_t> ids;
        for (int p = 0; !ec && p < pods; ++p) {
            const fs::path cg = top / container_cgroup(p, 0);
            fs::create_directories(cg, ec);
            ids.push_back(inode(cg));
        }
        if (!ec) {
            CgroupPaths paths;  // the real hierarchy
            report("cgroup path, first sight by file handle", time_each(static_cast<int>(ids.size()), [&](int i) {
                       (void)paths.lookup(ids[static_cast<std::size_t>(i)]);
                   }));
        } else {
            std::fprintf(stderr, "nfsl-naming: no cgroups in %s: %s\n", root->c_str(), ec.message().c_str());
        }
        remove_cgroups(top);
    }
    std::error_code ec;
    fs::remove_all(work, ec);
    return 0;
}
