import io

from cai_desktop.jobs.context import ConsoleContext


def test_console_eta_counts_from_each_jobs_first_report():
    ctx = ConsoleContext(stream=io.StringIO())
    # a first job: 10 units, 2 s each after its start at t=100
    assert ctx.eta(0, 10, 100.0) is None
    assert ctx.eta(1, 10, 102.0) == 18.0
    assert ctx.eta(5, 10, 110.0) == 10.0
    # the next job in the same context (as in the demo) starts from its own first report at t=500,
    # not from the first job's start: 1 unit took 4 s, 3 remain
    assert ctx.eta(0, 4, 500.0) is None
    assert ctx.eta(1, 4, 504.0) == 12.0
    # a resumed job that starts part-way counts from where it starts
    assert ctx.eta(3, 8, 900.0) is None
    assert ctx.eta(4, 8, 901.0) == 4.0
    assert ctx.eta(8, 8, 905.0) is None


def test_console_progress_writes_a_bar_with_eta():
    out = io.StringIO()
    ctx = ConsoleContext(stream=out)
    ctx.progress(0, 4, "starting")
    ctx._last = 0.0  # let the next report through the 0.2 s throttle
    ctx.progress(4, 4, "done")
    text = out.getvalue()
    assert "0/4" in text and "4/4" in text and text.endswith("\n")
