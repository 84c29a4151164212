// SPDX-License-Identifier: GPL-2.0-only
#include "process/workload.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "process/cgroup_identity.hpp"
#include "test_support.hpp"

namespace nfsleuth {
namespace {

const std::string kId(64, 'a');
const std::string kId2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kUid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const std::string kUidSystemd = "0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0";

struct Expected {
    std::string runtime, id, pod_uid, qos, unit;
};

void expect(const std::string& path, const Expected& e) {
    const Workload w = parse_cgroup_path(path);
    EXPECT_EQ(w.runtime, e.runtime) << path;
    EXPECT_EQ(w.container_id, e.id) << path;
    EXPECT_EQ(w.pod_uid, e.pod_uid) << path;
    EXPECT_EQ(w.qos, e.qos) << path;
    EXPECT_EQ(w.unit, e.unit) << path;
}

// --- cgroup paths, as each runtime and driver lays them out ------------------

TEST(CgroupPath, DockerSystemdAndCgroupfsDrivers) {
    expect("/system.slice/docker-" + kId + ".scope", {"docker", kId, "", "", ""});
    expect("/docker/" + kId, {"docker", kId, "", "", ""});
}

TEST(CgroupPath, ContainerdUnderKubernetesSystemdDriver) {
    expect("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidSystemd +
               ".slice/cri-containerd-" + kId + ".scope",
           {"containerd", kId, kUid, "burstable", ""});
    expect("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidSystemd +
               ".slice/cri-containerd-" + kId + ".scope",
           {"containerd", kId, kUid, "besteffort", ""});
    // Guaranteed pods sit right under kubepods.slice.
    expect("/kubepods.slice/kubepods-pod" + kUidSystemd + ".slice/cri-containerd-" + kId + ".scope",
           {"containerd", kId, kUid, "guaranteed", ""});
}

TEST(CgroupPath, KubernetesCgroupfsDriverHasBareIds) {
    expect("/kubepods/burstable/pod" + kUid + "/" + kId, {"cri", kId, kUid, "burstable", ""});
    expect("/kubepods/pod" + kUid + "/" + kId, {"cri", kId, kUid, "guaranteed", ""});
    // The pod's own cgroup (its sandbox's processes are elsewhere): no container.
    expect("/kubepods/besteffort/pod" + kUid, {"", "", kUid, "besteffort", ""});
}

TEST(CgroupPath, CrioAndItsMonitor) {
    const std::string pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidSystemd + ".slice/";
    expect(pod + "crio-" + kId + ".scope", {"cri-o", kId, kUid, "burstable", ""});
    expect(pod + "crio-conmon-" + kId + ".scope", {"cri-o", kId, kUid, "burstable", ""});
    expect("/kubepods/burstable/pod" + kUid + "/crio-" + kId, {"cri-o", kId, kUid, "burstable", ""});
}

TEST(CgroupPath, Podman) {
    expect("/machine.slice/libpod-" + kId + ".scope", {"podman", kId, "", "", ""});
    expect("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope",
           {"podman", kId, "", "", ""});
    expect("/machine.slice/libpod-conmon-" + kId + ".scope", {"podman", kId, "", "", ""});
    expect("/libpod_parent/libpod-" + kId, {"podman", kId, "", "", ""});
    // A process in a sub-cgroup of the container still belongs to it.
    expect("/machine.slice/libpod-" + kId + ".scope/container", {"podman", kId, "", "", ""});
}

TEST(CgroupPath, SystemdUnitsOutsideContainers) {
    expect("/system.slice/nginx.service", {"", "", "", "", "nginx.service"});
    expect("/user.slice/user-1000.slice/session-3.scope", {"", "", "", "", "session-3.scope"});
    expect("/", {"", "", "", "", ""});
    expect("", {"", "", "", "", ""});
    expect("/nfsl-test", {"", "", "", "", ""});
}

TEST(CgroupPath, InnermostContainerAndPodWin) {
    // A kind node: the node is a docker container, the pod's container is
    // containerd's inside it.
    expect("/system.slice/docker-" + kId2 + ".scope/kubelet.slice/kubelet-kubepods.slice/"
               "kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + kUidSystemd +
               ".slice/cri-containerd-" + kId + ".scope",
           {"containerd", kId, kUid, "besteffort", ""});
    // A container's own systemd: the container, not the unit inside it.
    expect("/system.slice/docker-" + kId + ".scope/system.slice/nginx.service", {"docker", kId, "", "", ""});
    // Nested under a prefix (a test's or a slice of its own).
    expect("/nfsl-ctr-1/kubepods/burstable/pod" + kUid + "/" + kId, {"cri", kId, kUid, "burstable", ""});
}

TEST(CgroupPath, LookAlikesAreNotContainers) {
    expect("/system.slice/docker-" + kId.substr(1) + ".scope", {"", "", "", "", "docker-" + kId.substr(1) + ".scope"});
    expect("/system.slice/docker-" + std::string(64, 'A') + ".scope",
           {"", "", "", "", "docker-" + std::string(64, 'A') + ".scope"});
    expect("/system.slice/docker.service", {"", "", "", "", "docker.service"});
    // A bare id is only a container under docker/ or a pod.
    expect("/" + kId, {"", "", "", "", ""});
    // "pod..." outside kubepods is nobody's pod.
    expect("/pod" + kUid + "/" + kId, {"", "", "", "", ""});
    expect("/kubepods/burstable/podXYZ/" + kId, {"", "", "", "burstable", ""});
}

TEST(CgroupPath, HostilePathsNeverThrow) {
    for (const std::string& p : {std::string("////"), std::string("/kubepods.slice/kubepods-pod.slice"),
                                 std::string("/kubepods-.slice/kubepods-pod_.slice"), std::string(5000, '/'),
                                 std::string("/kubepods/\xff\n/pod") + std::string(80, '-')})
        EXPECT_NO_THROW((void)parse_cgroup_path(p)) << p;
}

// --- names ---------------------------------------------------------------------

TEST(WorkloadNames, ShortIdsFollowEachRuntimesTool) {
    Workload w = parse_cgroup_path("/system.slice/docker-" + kId2 + ".scope");
    EXPECT_EQ(short_container_id(w), "0123456789ab");  // docker ps
    w = parse_cgroup_path("/kubepods/pod" + kUid + "/" + kId2);
    EXPECT_EQ(short_container_id(w), "0123456789abc");  // crictl ps
}

TEST(WorkloadNames, LabelsWithAndWithoutThePodsNames) {
    Workload w = parse_cgroup_path("/kubepods/pod" + kUid + "/" + kId2);
    EXPECT_EQ(pod_label(w), "pod:" + kUid);
    EXPECT_EQ(container_label(w), "cri:0123456789abc");
    EXPECT_EQ(container_key(w), "cri:0123456789abc");
    w.pod_namespace = "kube-system";
    w.pod_name = "coredns-5d78c9869d-abcde";
    EXPECT_EQ(pod_label(w), "kube-system/coredns-5d78c9869d-abcde");
    EXPECT_EQ(container_key(w), "kube-system/coredns-5d78c9869d-abcde/0123456789abc");
    w.container_name = "coredns";
    EXPECT_EQ(container_label(w), "coredns");
    EXPECT_EQ(container_key(w), "kube-system/coredns-5d78c9869d-abcde/coredns");
    const Workload host = parse_cgroup_path("/system.slice/sshd.service");
    EXPECT_EQ(pod_label(host), "");
    EXPECT_EQ(container_label(host), "");
    EXPECT_EQ(container_key(host), "");
}

TEST(KubeletLogNames, PodDirectories) {
    PodDirName pod;
    ASSERT_TRUE(parse_pod_dir_name("kube-system_coredns-5d78c9869d-abcde_" + kUid, pod));
    EXPECT_EQ(pod.pod_namespace, "kube-system");
    EXPECT_EQ(pod.pod_name, "coredns-5d78c9869d-abcde");
    EXPECT_EQ(pod.uid, kUid);
    PodDirName untouched{"x", "y", "z"};
    for (const std::string& bad : {std::string("kube-system_coredns"), "a_b_c_" + kUid, "_pod_" + kUid,
                                   "Kube_pod_" + kUid, std::string("ns_pod_not-a-uid!"), std::string("")}) {
        EXPECT_FALSE(parse_pod_dir_name(bad, untouched)) << bad;
        EXPECT_EQ(untouched.pod_namespace, "x");
    }
}

TEST(KubeletLogNames, ContainerLogLinks) {
    ContainerLogName log;
    ASSERT_TRUE(parse_container_log_name("web-0_shop_nginx-" + kId2 + ".log", log));
    EXPECT_EQ(log.pod_name, "web-0");
    EXPECT_EQ(log.pod_namespace, "shop");
    EXPECT_EQ(log.container_name, "nginx");
    EXPECT_EQ(log.container_id, kId2);
    for (const std::string& bad : {"web-0_shop_nginx-" + kId2, "web-0_shop_nginx-" + kId2.substr(2) + ".log",
                                   "web-0_nginx-" + kId2 + ".log", std::string("web-0_shop_ng\nx-") + kId2 + ".log"})
        EXPECT_FALSE(parse_container_log_name(bad, log)) << bad;
}

// --- pod names from a kubelet log tree ---------------------------------------------

class PodNamesTest : public ::testing::Test {
protected:
    nfsleuth_test::TempDir dir{"nfsl-pods"};
    PodDirectories dirs{(dir.path() / "pods").string(), (dir.path() / "containers").string()};

    void add_pod(const std::string& ns, const std::string& name, const std::vector<std::string>& containers) {
        const auto pod = dir.path() / "pods" / (ns + "_" + name + "_" + kUid);
        for (const auto& c : containers) std::filesystem::create_directories(pod / c);
    }
    void link_container(const std::string& ns, const std::string& pod, const std::string& name, const std::string& id) {
        std::filesystem::create_directories(dir.path() / "containers");
        std::ofstream(dir.path() / "containers" / (pod + "_" + ns + "_" + name + "-" + id + ".log")) << "";
    }
    static Workload in_pod(const std::string& id) {
        return parse_cgroup_path("/kubepods/burstable/pod" + kUid + "/" + id);
    }
    // The container `id` of the pod, as `names` names it.
    static Workload named(PodNames& names, const std::string& id) {
        Workload w = in_pod(id);
        names.name(w);
        return w;
    }
};

TEST_F(PodNamesTest, NamesPodAndContainerFromTheLinks) {
    add_pod("shop", "web-0", {"nginx", "sidecar"});
    link_container("shop", "web-0", "nginx", kId);
    link_container("shop", "web-0", "sidecar", kId2);
    PodNames names(dirs);
    const Workload w = named(names, kId2);
    EXPECT_EQ(pod_label(w), "shop/web-0");
    EXPECT_EQ(w.container_name, "sidecar");
    EXPECT_EQ(container_key(w), "shop/web-0/sidecar");
}

TEST_F(PodNamesTest, APodOfOneContainerNamesItWithoutLinks) {
    add_pod("shop", "web-0", {"nginx"});
    PodNames names(dirs);
    const Workload w = named(names, kId);
    EXPECT_EQ(pod_label(w), "shop/web-0");
    EXPECT_EQ(w.container_name, "nginx");
}

TEST_F(PodNamesTest, SeveralContainersWithoutLinksLeaveTheNameUnknown) {
    add_pod("shop", "web-0", {"nginx", "sidecar"});
    PodNames names(dirs);
    const Workload w = named(names, kId);
    EXPECT_EQ(pod_label(w), "shop/web-0");
    EXPECT_EQ(w.container_name, "");
    EXPECT_EQ(container_key(w), "shop/web-0/aaaaaaaaaaaaa");
}

// Within `limit`, what `done` waits for.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

TEST_F(PodNamesTest, APodThatAppearsLaterIsNamedOnceReadAgain) {
    PodNames names(dirs, std::chrono::milliseconds(0), std::chrono::seconds(0));
    EXPECT_EQ(pod_label(named(names, kId)), "pod:" + kUid) << "a miss answers at once, with the uid";
    add_pod("shop", "web-0", {"nginx"});
    EXPECT_TRUE(eventually([&] { return pod_label(named(names, kId)) == "shop/web-0"; }));
    EXPECT_GE(names.readings(), 2u);
}

TEST_F(PodNamesTest, ANameNotFoundIsNotAskedForAgainWithinTheRetryPeriod) {
    PodNames names(dirs, std::chrono::milliseconds(0), std::chrono::hours(1));
    EXPECT_EQ(pod_label(named(names, kId)), "pod:" + kUid);
    ASSERT_TRUE(eventually([&] { return names.readings() == 2; })) << "the miss asked for a reading";
    add_pod("shop", "web-0", {"nginx"});
    EXPECT_EQ(pod_label(named(names, kId)), "pod:" + kUid) << "asked for within the hour already";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(names.readings(), 2u);
}

TEST_F(PodNamesTest, ReadingsArePacedAndStopWithTheirOwner) {
    auto names = std::make_unique<PodNames>(dirs, std::chrono::hours(1), std::chrono::seconds(0));
    EXPECT_EQ(pod_label(named(*names, kId)), "pod:" + kUid);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(names->readings(), 1u) << "the next reading is due in an hour";
    const auto start = std::chrono::steady_clock::now();
    names.reset();  // the waiting reader is stopped, not waited for
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(PodNamesTest, AContainerLinkMadeAfterThePodIsAskedFor) {
    add_pod("shop", "web-0", {"nginx", "sidecar"});
    std::filesystem::create_directories(dir.path() / "containers");
    PodNames names(dirs, std::chrono::milliseconds(0), std::chrono::seconds(0));
    EXPECT_EQ(named(names, kId).container_name, "");
    link_container("shop", "web-0", "nginx", kId);
    EXPECT_TRUE(eventually([&] { return named(names, kId).container_name == "nginx"; }));
}

TEST_F(PodNamesTest, WithoutTheLinksDirectoryContainersAreNotAskedFor) {
    add_pod("shop", "web-0", {"nginx", "sidecar"});
    PodNames names(dirs, std::chrono::milliseconds(0), std::chrono::seconds(0));
    EXPECT_EQ(pod_label(named(names, kId)), "shop/web-0");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(names.readings(), 1u) << "nothing to read a container's name from";
}

TEST_F(PodNamesTest, MissingDirectoriesNameNothing) {
    PodNames names({"/nonexistent/pods", "/nonexistent/containers"});
    Workload w = in_pod(kId);
    names.name(w);
    EXPECT_EQ(pod_label(w), "pod:" + kUid);
    EXPECT_EQ(container_label(w), "cri:aaaaaaaaaaaaa");
}

}  // namespace
}  // namespace nfsleuth
