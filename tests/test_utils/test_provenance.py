"""A record's commit says when the source it ran differs from that commit."""
import os
import subprocess

from scl.utils.provenance import git_commit


def git(repo, *args):
    subprocess.run(['git', '-c', 'user.name=t', '-c', 'user.email=t@t', *args], cwd=repo, check=True,
                   capture_output=True)


def test_commit_is_marked_dirty_only_by_tracked_source_changes(tmp_path):
    assert git_commit(str(tmp_path)) == 'unknown'  # not a checkout
    for d in ('scl', 'docs'):
        (tmp_path / d).mkdir()
        (tmp_path / d / 'a.py').write_text('x = 1\n')
    git(tmp_path, 'init', '-q')
    git(tmp_path, 'add', '.')
    git(tmp_path, 'commit', '-qm', 'first')
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=tmp_path, capture_output=True,
                          text=True).stdout.strip()
    assert git_commit(str(tmp_path)) == head
    (tmp_path / 'docs' / 'a.py').write_text('x = 2\n')  # a report rewritten under docs/
    (tmp_path / 'scl' / 'new.py').write_text('y = 1\n')  # untracked
    assert git_commit(str(tmp_path / 'scl')) == head
    (tmp_path / 'scl' / 'a.py').write_text('x = 3\n')
    assert git_commit(str(tmp_path / 'docs')) == head + '+dirty'


def test_usable_cpus_follow_the_affinity_mask_not_the_machine(monkeypatch):
    """A batch job or container given 3 of a machine's 128 CPUs: the benchmark sizes its runs and threads to the 3."""
    from scl.benchmarks.scene import runs
    from scl.benchmarks.scene.benchmark import default_jobs
    from scl.utils import provenance as P
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(os, 'cpu_count', lambda: 128)
    assert P.usable_cpus() == 3 and runs.shared_threads(jobs=1) == 3 and default_jobs('cpu') == 3
    assert P.machine(threads=1)['cpus'] == 3
    monkeypatch.delattr(os, 'sched_getaffinity')  # a platform without the call: the machine's count
    assert P.usable_cpus() == 128
