; Inno Setup script: wraps the one-folder bundle (packaging/build.sh on Windows: dist\cai-desktop)
; into CaiDesktop-Setup-<version>.exe. Build: iscc /DAppVersion=0.1.0 packaging\windows\cai-desktop.iss
; Not run in this project's environment (Linux only); .github/workflows/packages.yml runs it.
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
[Setup]
AppId={{8A4C2B7E-5D1F-4F7B-9C1E-CA1DE5A70B01}
AppName=CAI Desktop
AppVersion={#AppVersion}
AppPublisher=CAI Desktop
DefaultDirName={autopf}\CAI Desktop
DefaultGroupName=CAI Desktop
OutputDir=..\..\dist
OutputBaseFilename=CaiDesktop-Setup-{#AppVersion}
Compression=lzma2/fast
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
ChangesAssociations=yes

[Files]
Source: "..\..\dist\cai-desktop\*"; DestDir: "{app}"; Flags: recursesubdirs createallsubdirs ignoreversion

[Icons]
Name: "{group}\CAI Desktop"; Filename: "{app}\cai-desktop.exe"; Parameters: "gui"
Name: "{autodesktop}\CAI Desktop"; Filename: "{app}\cai-desktop.exe"; Parameters: "gui"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Registry]
Root: HKA; Subkey: "Software\Classes\.caiproj"; ValueType: string; ValueData: "CaiDesktop.Project"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\CaiDesktop.Project\shell\open\command"; ValueType: string; ValueData: """{app}\cai-desktop.exe"" gui ""%1"""; Flags: uninsdeletekey

[Run]
Filename: "{app}\cai-desktop.exe"; Parameters: "gui"; Description: "Start CAI Desktop"; Flags: nowait postinstall skipifsilent
