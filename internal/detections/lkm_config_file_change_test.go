package detections

import "testing"

// TestConfigFileChangeRecorded: appending to, changing the mode of and
// deleting a module configuration file alert, and so does creating
// /etc/modprobe.conf; an editor's swap file and dpkg's temporary file are
// excluded; reading is nothing, and creations in the .d directories are
// the creation detection's.
func TestConfigFileChangeRecorded(t *testing.T) {
	testRecorded(t, ConfigFileChangeID, []recordedCase{
		{logs: []string{"detections-conf-append"}, want: []string{
			"modification /etc/modprobe.d/auditlkm-det.conf medium",
		}},
		{logs: []string{"detections-conf-chmod"}, want: []string{
			"attributes-modified /etc/modprobe.d/auditlkm-det.conf medium",
		}},
		{logs: []string{"detections-conf-delete"}, want: []string{
			"deletion /etc/modprobe.d/auditlkm-det.conf medium",
		}},
		{logs: []string{"detections-modprobe-conf"}, want: []string{
			"creation /etc/modprobe.conf medium",
		}},
		{logs: []string{"detections-conf-swap"}, want: []string{
			"deletion /etc/modprobe.d/.auditlkm-det.conf.swp medium suppressed=editor-swap-file",
		}},
		{logs: []string{"detections-dpkg-kmod"}, want: []string{
			"deletion /lib/modprobe.d/aliases.conf.dpkg-tmp medium suppressed=package-manager",
		}},
		{logs: []string{"detections-conf-read"}, want: nil},
		{logs: []string{"detections-conf-create"}, want: nil},
		{logs: []string{"detections-modules-load"}, want: nil},
		{logs: []string{"detections-ko-create"}, want: nil},
	})
}
