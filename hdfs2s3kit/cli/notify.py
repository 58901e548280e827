"""`notify`: pass status records through, publish them to SNS and CloudWatch."""

import sys

from .. import aws, config, errors, metrics, notifications, sts
from . import clikit, common
from .argspec import Option

PROG = "notify"
HELP = """Read JSON status records (docs/STATUS.md) on stdin and pass them to stdout
unchanged, as they arrive, while publishing SNS notifications and CloudWatch metrics
(Transfers, Successes, Failures, Bytes, Duration, Throughput; dimensions Pipeline, Bucket).

SNS/CloudWatch outages only warn (75 with --strict): records always pass through.

\b
Exit status:
  0        every record ok or skipped
  N        exit_code of the first failing record (1 if it has none)
  65       malformed line, partial last line, or no record (upstream crashed)
  74       stdout closed by the reader (records still read and reported)
  78       notifications misconfigured (no topic, bad namespace, no config)
  75       with --strict: SNS or CloudWatch could not be reached
  128+N    stop signal N: HUP 129, INT 130, QUIT 131, TERM 143 (a failure
           is published first)"""



def command(
    cfg_prefix: str | None = Option(None, "--config", envvar=config.ENV_VAR, metavar="PREFIX",
                                       help="SSM config prefix (sns_topic_arn, cloudwatch_namespace, ...)."),
    topic_arn: str | None = Option(None, "--topic-arn", help="SNS topic (default: the config's)."),
    on: str | None = Option(None, "--on", metavar="MODE",
                               help="default (each failure + summary), failure, always or summary."),
    pipeline: str | None = Option(None, "--pipeline", help="Pipeline dimension/tag (default: config)."),
    no_metrics: bool = Option(False, "--no-metrics", help="Do not send CloudWatch metrics."),
    no_sns: bool = Option(False, "--no-sns", help="Do not publish to SNS."),
    max_each: int = Option(50, "--max-each", min=0,
                           help="Per-record messages before the rest only go in the summary (0: no limit)."),
    strict: bool = Option(False, "--strict", help="Exit 75 if SNS or CloudWatch could not be reached."),
):
    return common.run(PROG, _notify, cfg_prefix, topic_arn, on, pipeline, no_metrics, no_sns, max_each, strict)


def _notify(cfg_prefix, topic_arn, on, pipeline, no_metrics, no_sns, max_each, strict):
    misconfigured, outage = False, False
    try:
        # the lean path (no botocore: ~0.6 CPU-s of start-up) whenever it does what botocore would
        session, _role, _name, cfg = sts.session_for(assume_role=False, config_prefix=cfg_prefix, lean=PROG)
        cfg = cfg or config.Config(None, {})
    except errors.KitError as e:  # status output must still flow: warn, report at the end
        common.log(PROG, f"warning: {e.message} (records still pass through)")
        outage = e.code in (errors.UNAVAILABLE, errors.TEMPFAIL)
        misconfigured = not outage
        cfg = config.Config(None, {})
        session = None
    mode = on or cfg.value("notify_on")
    if mode not in notifications.MODES:
        raise errors.UsageError(f"--on must be one of {', '.join(notifications.MODES)}, not {mode!r}")
    pipeline = pipeline or cfg.value("pipeline")
    if session is None:
        session = sts.lean_base(None, None, PROG, say=False) or aws.base_session()
    sinks = []
    if not no_sns:
        notifier = notifications.Notifier(session, topic_arn or cfg.get("sns_topic_arn"), mode, prog=PROG,
                                          pipeline=pipeline, max_each=max_each)
        misconfigured |= bool(notifier.problem)
        sinks.append(notifier)
    if not no_metrics:
        dims = {"Pipeline": pipeline, "Bucket": cfg.get("bucket")}
        m = metrics.Metrics(session, cfg.value("cloudwatch_namespace"), dims, prog=PROG)
        misconfigured |= bool(m.problem)
        sinks.append(m)
    res = notifications.relay(sys.stdin.buffer, sys.stdout.buffer, sinks, prog=PROG)
    for sink in sinks:
        sink.finish("; ".join(res.problems)[:500] or None)
    outage |= any(s.failed for s in sinks)
    if res.interrupted:
        return res.interrupted.code
    if res.problems and res.first_code == errors.DATAERR:
        more = f" (and {len(res.problems) - 1} more)" if len(res.problems) > 1 else ""
        common.log(PROG, f"bad input: {res.problems[0]}{more}")
    if res.first_code:
        return res.first_code
    if res.stdout_closed:
        return errors.IOERR
    if misconfigured:
        return errors.CONFIG
    return errors.TEMPFAIL if strict and outage else 0


def main():
    clikit.filter_main(command, PROG, help=HELP)


if __name__ == "__main__":
    main()
