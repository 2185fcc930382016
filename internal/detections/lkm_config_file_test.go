package detections

import "testing"

// TestConfigFileCreationRecorded: a module configuration file created or
// renamed into place alerts; an editor's swap file and dpkg's rewrite of
// its own file are excluded; reading, appending to, changing the mode of
// and deleting an existing file are the change detection's.
func TestConfigFileCreationRecorded(t *testing.T) {
	testRecorded(t, ConfigFileCreationID, []recordedCase{
		{logs: []string{"detections-conf-create"}, want: []string{
			"creation /etc/modprobe.d/auditlkm-det.conf medium",
		}},
		{logs: []string{"detections-modules-load"}, want: []string{
			"rename /etc/modules-load.d/auditlkm-det.conf medium",
		}},
		{logs: []string{"detections-conf-swap"}, want: []string{
			"creation /etc/modprobe.d/.auditlkm-det.conf.swp medium suppressed=editor-swap-file",
		}},
		// apt-get install --reinstall kmod: dpkg-new, its hard link, the rename into place.
		{logs: []string{"detections-dpkg-kmod"}, want: []string{
			"creation /lib/modprobe.d/aliases.conf.dpkg-new medium suppressed=package-manager",
			"hard-link /lib/modprobe.d/aliases.conf.dpkg-tmp medium suppressed=package-manager",
			"rename /lib/modprobe.d/aliases.conf medium suppressed=package-manager",
		}},
		{logs: []string{"detections-conf-then-load"}, want: []string{
			"creation /etc/modprobe.d/auditlkm-det.conf medium",
		}},
		{logs: []string{"detections-conf-read"}, want: nil},
		{logs: []string{"detections-conf-append"}, want: nil},
		{logs: []string{"detections-conf-chmod"}, want: nil},
		{logs: []string{"detections-conf-delete"}, want: nil},
		{logs: []string{"detections-modprobe-conf"}, want: nil},
		{logs: []string{"detections-ko-create"}, want: nil},
	})
}
