"""Records: the monthly record and its Markdown/CSV/HTML views, the due list, the calendar and schedules."""
