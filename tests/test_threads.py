"""The CPU thread policy: usable cores from affinity and the cgroup quota; the user's own settings win."""

import os
import subprocess
import sys

from synfaith.threads import apply_thread_policy, cgroup_quota, usable_cores


def test_cgroup_quotas_v2_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_quota(tmp_path) == 2  # 1.5 cores, rounded up
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_quota(v1) == 1 and usable_cores(v1) == 1
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert cgroup_quota(v1) is None and usable_cores(v1) == len(os.sched_getaffinity(0))
    assert cgroup_quota(tmp_path / "absent") is None


def test_the_policy_fills_in_only_what_the_user_left_unset(tmp_path):
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    environ = {}
    assert apply_thread_policy(environ, tmp_path) == {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    mine = {"OMP_NUM_THREADS": "7", "OMP_WAIT_POLICY": "ACTIVE"}
    assert apply_thread_policy(mine, tmp_path) == {} and mine == {"OMP_NUM_THREADS": "7", "OMP_WAIT_POLICY": "ACTIVE"}


def test_the_command_applies_it_before_torch_is_imported():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    script = ("import sys; from synfaith.cli import main; main(['metrics', 'list']); import os, torch; "
              "print(os.environ['OMP_WAIT_POLICY'], os.environ['OMP_NUM_THREADS'], torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    policy, threads, torch_threads = out.stdout.split()[-3:]
    assert policy == "PASSIVE" and int(threads) == usable_cores() == int(torch_threads)
