# Process health check of role service_control on a Windows host, run by ansible.windows.win_powershell
# (tasks/health.yml). Read-only: it only reads the Win32_Process CIM class and sets $Ansible.Changed = $false.
#
# Parameters (exactly one; the role passes them as script parameters, never inside the script's text):
#   -Name     a process name, as community.general.pids "name" on Linux: equal, ignoring case, to the process's
#             Name with or without ".exe" (w3wp or w3wp.exe).
#   -Pattern  a .NET regular expression, searched case-sensitively as community.general.pids "pattern" does
#             (Python re.search) in the process's Name, its executable's file name and its command line.
# Returns in $Ansible.Result: pids - the ProcessId of every matching process (empty when none runs);
# names - their distinct Names. Command lines are never returned (they may hold a secret).
#
# Source of the properties: Microsoft, "Win32_Process class" (Name, ProcessId, ExecutablePath, CommandLine),
# https://learn.microsoft.com/windows/win32/cimwin32prov/win32-process. CommandLine and ExecutablePath are empty
# for processes the connecting account may not inspect; a pattern then still matches the Name.
[CmdletBinding()]
param (
    [String]$Name = '',
    [String]$Pattern = ''
)

$ErrorActionPreference = 'Stop'
$Ansible.Changed = $false

if (($Name -eq '') -eq ($Pattern -eq '')) {
    throw 'process check: give exactly one of -Name or -Pattern'
}
$regex = if ($Pattern -ne '') { [regex]::new($Pattern) } else { $null }

$found = @(Get-CimInstance -ClassName Win32_Process | Where-Object {
        if ($null -ne $regex) {
            $exe = if ($_.ExecutablePath) { [System.IO.Path]::GetFileName($_.ExecutablePath) } else { '' }
            $regex.IsMatch([string]$_.Name) -or $regex.IsMatch($exe) -or $regex.IsMatch([string]$_.CommandLine)
        }
        else {
            $_.Name -eq $Name -or $_.Name -eq "$Name.exe"
        }
    })

$Ansible.Result = @{
    pids  = @($found | ForEach-Object { [int]$_.ProcessId })
    names = @($found | ForEach-Object { [string]$_.Name } | Sort-Object -Unique)
}
