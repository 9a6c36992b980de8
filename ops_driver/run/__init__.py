"""The run: plan and apply (``pipeline``), ansible-runner (``runner``), the role contract, report.md, recovery."""
