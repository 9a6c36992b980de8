"""AWX (Ansible Tower): the export, surveys, the execution environment and the import of AWX jobs."""
