// The event log (see EventLog.swift).
