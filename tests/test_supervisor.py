from meshlb.supervisor import GiveUp, Restart, RestartPolicy, _by_worker


def test_a_worker_that_dies_after_it_was_ready_is_started_again() -> None:
    policy = RestartPolicy(delay=0.5, max_failures=3)
    policy.ready(0)
    assert policy.exited(0, was_ready=True) == Restart(0.5)
    assert policy.exited(0, was_ready=True) == Restart(0.5)


def test_a_worker_that_never_started_gives_the_group_up_at_once() -> None:
    policy = RestartPolicy(delay=0.5, max_failures=3)
    policy.ready(0)
    verdict = policy.exited(1, was_ready=False)
    assert isinstance(verdict, GiveUp) and verdict.why == "worker 1 could not start"


def test_a_replacement_that_cannot_start_is_tried_with_growing_pauses_then_given_up() -> None:
    policy = RestartPolicy(delay=0.5, max_failures=3)
    policy.ready(0)
    assert policy.exited(0, was_ready=True) == Restart(0.5)
    assert policy.exited(0, was_ready=False) == Restart(1.0)
    assert policy.exited(0, was_ready=False) == Restart(2.0)
    assert policy.exited(0, was_ready=False) == GiveUp(
        "worker 0 could not start again with the running config (3 tries in a row)"
    )


def test_a_replacement_that_becomes_ready_resets_the_count() -> None:
    policy = RestartPolicy(delay=0.5, max_failures=2)
    policy.ready(0)
    assert policy.exited(0, was_ready=False) == Restart(1.0)
    policy.ready(0)
    assert policy.exited(0, was_ready=True) == Restart(0.5)
    assert policy.exited(0, was_ready=False) == Restart(1.0)
    assert repr(policy) == "<RestartPolicy started=[0] failures={0: 1}>"


def test_reload_errors_are_listed_once_with_the_workers_that_met_them() -> None:
    answers = {
        1: ["listener 'extra' on 127.0.0.1:9: Address already in use"],
        0: ["listener 'extra' on 127.0.0.1:9: Address already in use"],
        2: ["exited during the reload"],
        3: [],
    }
    assert _by_worker(answers) == [
        "listener 'extra' on 127.0.0.1:9: Address already in use (workers 0, 1)",
        "exited during the reload (worker 2)",
    ]
