from tfforge.doctor import format_report, report


def demo_step(workdir: str) -> str:
    return format_report(report())
