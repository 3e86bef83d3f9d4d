"""gLite WMS drop-ins: glite-wms-job-submit, -status, -cancel, -logging-info, -output."""
