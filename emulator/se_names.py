"""The names of the Smart Energy cluster commands, as ``pcap show`` prints them.

Names and numbers are those of ZigBee Smart Energy Standard 1.4 (document
07-5356-19), chapters D.2 to D.11 and C.3 (Key Establishment), per cluster and
direction: the same command id means different commands to the server
(client -> server) and to the client. They were checked one by one against
Wireshark's ZigBee SE dissector, which prints the same names, so a capture
read with ``s1bench pcap show`` and with tshark names each frame alike
(tests/emulator/test_tshark.py compares them).
"""

from __future__ import annotations

TO_SERVER = 0
TO_CLIENT = 1

#: (cluster, direction, command id) -> command name.
COMMANDS: dict[tuple[int, int, int], str] = {
    # Price (0x0700)
    (0x0700, TO_SERVER, 0x00): "Get Current Price",
    (0x0700, TO_SERVER, 0x01): "Get Scheduled Prices",
    (0x0700, TO_SERVER, 0x02): "Price Acknowledgement",
    (0x0700, TO_SERVER, 0x03): "Get Block Period(s)",
    (0x0700, TO_SERVER, 0x04): "Get Conversion Factor",
    (0x0700, TO_SERVER, 0x05): "Get Calorific Value",
    (0x0700, TO_SERVER, 0x06): "Get Tariff Information",
    (0x0700, TO_SERVER, 0x07): "Get Price Matrix",
    (0x0700, TO_SERVER, 0x08): "Get Block Thresholds",
    (0x0700, TO_SERVER, 0x09): "Get CO2 Value",
    (0x0700, TO_SERVER, 0x0A): "Get Tier Labels",
    (0x0700, TO_SERVER, 0x0B): "Get Billing Period",
    (0x0700, TO_SERVER, 0x0C): "Get Consolidated Bill",
    (0x0700, TO_SERVER, 0x0D): "CPP Event Response",
    (0x0700, TO_SERVER, 0x0E): "Get Credit Payment",
    (0x0700, TO_SERVER, 0x0F): "Get Currency Conversion",
    (0x0700, TO_SERVER, 0x10): "Get Tariff Cancellation",
    (0x0700, TO_CLIENT, 0x00): "Publish Price",
    (0x0700, TO_CLIENT, 0x01): "Publish Block Period",
    (0x0700, TO_CLIENT, 0x02): "Publish Conversion Factor",
    (0x0700, TO_CLIENT, 0x03): "Publish Calorific Value",
    (0x0700, TO_CLIENT, 0x04): "Publish Tariff Information",
    (0x0700, TO_CLIENT, 0x05): "Publish Price Matrix",
    (0x0700, TO_CLIENT, 0x06): "Publish Block Thresholds",
    (0x0700, TO_CLIENT, 0x07): "Publish CO2 Value",
    (0x0700, TO_CLIENT, 0x08): "Publish Tier Labels",
    (0x0700, TO_CLIENT, 0x09): "Publish Billing Period",
    (0x0700, TO_CLIENT, 0x0A): "Publish Consolidated Bill",
    (0x0700, TO_CLIENT, 0x0B): "Publish CPP Event",
    (0x0700, TO_CLIENT, 0x0C): "Publish Credit Payment",
    (0x0700, TO_CLIENT, 0x0D): "Publish Currency Conversion",
    (0x0700, TO_CLIENT, 0x0E): "Cancel Tariff",
    # DLRC (0x0701)
    (0x0701, TO_SERVER, 0x00): "Report Event Status",
    (0x0701, TO_SERVER, 0x01): "Get Scheduled Events",
    (0x0701, TO_CLIENT, 0x00): "Load Control Event",
    (0x0701, TO_CLIENT, 0x01): "Cancel Load Control Event",
    (0x0701, TO_CLIENT, 0x02): "Cancel All Load Control Events",
    # Metering (0x0702)
    (0x0702, TO_SERVER, 0x00): "Get Profile",
    (0x0702, TO_SERVER, 0x01): "Request Mirror Response",
    (0x0702, TO_SERVER, 0x02): "Mirror Removed",
    (0x0702, TO_SERVER, 0x03): "Request Fast Poll Mode",
    (0x0702, TO_SERVER, 0x04): "Schedule Snapshot",
    (0x0702, TO_SERVER, 0x05): "Take Snapshot",
    (0x0702, TO_SERVER, 0x06): "Get Snapshot",
    (0x0702, TO_SERVER, 0x07): "Start Sampling",
    (0x0702, TO_SERVER, 0x08): "Get Sampled Data",
    (0x0702, TO_SERVER, 0x09): "Mirror Report Attribute Response",
    (0x0702, TO_SERVER, 0x0A): "Reset Load Limit Counter",
    (0x0702, TO_SERVER, 0x0B): "Change Supply",
    (0x0702, TO_SERVER, 0x0C): "Local Change Supply",
    (0x0702, TO_SERVER, 0x0D): "Set Supply Status",
    (0x0702, TO_SERVER, 0x0E): "Set Uncontrolled Flow Threshold",
    (0x0702, TO_CLIENT, 0x00): "Get Profile Response",
    (0x0702, TO_CLIENT, 0x01): "Request Mirror",
    (0x0702, TO_CLIENT, 0x02): "Remove Mirror",
    (0x0702, TO_CLIENT, 0x03): "Request Fast Poll Mode Response",
    (0x0702, TO_CLIENT, 0x04): "Schedule Snapshot Response",
    (0x0702, TO_CLIENT, 0x05): "Take Snapshot Response",
    (0x0702, TO_CLIENT, 0x06): "Publish Snapshot",
    (0x0702, TO_CLIENT, 0x07): "Get Sampled Data Response",
    (0x0702, TO_CLIENT, 0x08): "Configure Mirror",
    (0x0702, TO_CLIENT, 0x09): "Configure Notification Scheme",
    (0x0702, TO_CLIENT, 0x0A): "Configure Notification Flags",
    (0x0702, TO_CLIENT, 0x0B): "Get Notified Message",
    (0x0702, TO_CLIENT, 0x0C): "Supply Status Response",
    (0x0702, TO_CLIENT, 0x0D): "Start Sampling Response",
    # Messaging (0x0703)
    (0x0703, TO_SERVER, 0x00): "Get Last Message",
    (0x0703, TO_SERVER, 0x01): "Message Confirmation",
    (0x0703, TO_SERVER, 0x02): "Get Message Cancellation",
    (0x0703, TO_CLIENT, 0x00): "Display Message",
    (0x0703, TO_CLIENT, 0x01): "Cancel Message",
    (0x0703, TO_CLIENT, 0x02): "Display Protected Message",
    (0x0703, TO_CLIENT, 0x03): "Cancel All Messages",
    # Tunneling (0x0704)
    (0x0704, TO_SERVER, 0x00): "Request Tunnel",
    (0x0704, TO_SERVER, 0x01): "Close Tunnel",
    (0x0704, TO_SERVER, 0x02): "Transfer Data",
    (0x0704, TO_SERVER, 0x03): "Transfer Data Error",
    (0x0704, TO_SERVER, 0x04): "Ack Transfer Data",
    (0x0704, TO_SERVER, 0x05): "Ready Data",
    (0x0704, TO_SERVER, 0x06): "Get Supported Tunnel Protocols",
    (0x0704, TO_CLIENT, 0x00): "Request Tunnel Response",
    (0x0704, TO_CLIENT, 0x01): "Transfer Data",
    (0x0704, TO_CLIENT, 0x02): "Transfer Data Error",
    (0x0704, TO_CLIENT, 0x03): "Ack Transfer Data",
    (0x0704, TO_CLIENT, 0x04): "Ready Data",
    (0x0704, TO_CLIENT, 0x05): "Supported Tunnel Protocols Response",
    (0x0704, TO_CLIENT, 0x06): "Tunnel Closure Notification",
    # Prepayment (0x0705)
    (0x0705, TO_SERVER, 0x00): "Select Available Emergency Credit",
    (0x0705, TO_SERVER, 0x02): "Change Debt",
    (0x0705, TO_SERVER, 0x03): "Emergency Credit Setup",
    (0x0705, TO_SERVER, 0x04): "Consumer Top Up",
    (0x0705, TO_SERVER, 0x05): "Credit Adjustment",
    (0x0705, TO_SERVER, 0x06): "Change Payment Mode",
    (0x0705, TO_SERVER, 0x07): "Get Prepay Snapshot",
    (0x0705, TO_SERVER, 0x08): "Get Top Up Log",
    (0x0705, TO_SERVER, 0x09): "Set Low Credit Warning Level",
    (0x0705, TO_SERVER, 0x0A): "Get Debt Repayment Log",
    (0x0705, TO_SERVER, 0x0B): "Set Maximum Credit Limit",
    (0x0705, TO_SERVER, 0x0C): "Set Overall Debt Cap",
    (0x0705, TO_CLIENT, 0x01): "Publish Prepay Snapshot",
    (0x0705, TO_CLIENT, 0x02): "Change Payment Mode Response",
    (0x0705, TO_CLIENT, 0x03): "Consumer Top Up Response",
    (0x0705, TO_CLIENT, 0x05): "Publish Top Up Log",
    (0x0705, TO_CLIENT, 0x06): "Publish Debt Log",
    # Energy Management (0x0706)
    (0x0706, TO_SERVER, 0x00): "Manage Event",
    (0x0706, TO_CLIENT, 0x00): "Report Event Status",
    # Calendar (0x0707)
    (0x0707, TO_SERVER, 0x00): "Get Calendar",
    (0x0707, TO_SERVER, 0x01): "Get Day Profiles",
    (0x0707, TO_SERVER, 0x02): "Get Week Profiles",
    (0x0707, TO_SERVER, 0x03): "Get Seasons",
    (0x0707, TO_SERVER, 0x04): "Get Special Days",
    (0x0707, TO_SERVER, 0x05): "Get Calendar Cancellation",
    (0x0707, TO_CLIENT, 0x00): "Publish Calendar",
    (0x0707, TO_CLIENT, 0x01): "Publish Day Profile",
    (0x0707, TO_CLIENT, 0x02): "Publish Week Profile",
    (0x0707, TO_CLIENT, 0x03): "Publish Seasons",
    (0x0707, TO_CLIENT, 0x04): "Publish Special Days",
    (0x0707, TO_CLIENT, 0x05): "Cancel Calendar",
    # Device Management (0x0708)
    (0x0708, TO_SERVER, 0x00): "Get Change Of Tenancy",
    (0x0708, TO_SERVER, 0x01): "Get Change Of Supplier",
    (0x0708, TO_SERVER, 0x02): "Request New Password",
    (0x0708, TO_SERVER, 0x03): "Get Site ID",
    (0x0708, TO_SERVER, 0x04): "Report Event Configuration",
    (0x0708, TO_SERVER, 0x05): "Get CIN",
    (0x0708, TO_CLIENT, 0x00): "Publish Change Of Tenancy",
    (0x0708, TO_CLIENT, 0x01): "Publish Change Of Supplier",
    (0x0708, TO_CLIENT, 0x02): "Request New Password Response",
    (0x0708, TO_CLIENT, 0x03): "Update Site ID",
    (0x0708, TO_CLIENT, 0x04): "Set Event Configuration",
    (0x0708, TO_CLIENT, 0x05): "Get Event Configuration",
    (0x0708, TO_CLIENT, 0x06): "Update CIN",
    # Events (0x0709)
    (0x0709, TO_SERVER, 0x00): "Get Event Log",
    (0x0709, TO_SERVER, 0x01): "Clear Event Log Request",
    (0x0709, TO_CLIENT, 0x00): "Publish Event",
    (0x0709, TO_CLIENT, 0x01): "Publish Event Log",
    (0x0709, TO_CLIENT, 0x02): "Clear Event Log Response",
    # Key Establishment (0x0800)
    (0x0800, TO_SERVER, 0x00): "Initiate Key Establishment Request",
    (0x0800, TO_SERVER, 0x01): "Ephemeral Data Request",
    (0x0800, TO_SERVER, 0x02): "Confirm Key Data Request",
    (0x0800, TO_SERVER, 0x03): "Terminate Key Establishment",
    (0x0800, TO_CLIENT, 0x00): "Initiate Key Establishment Response",
    (0x0800, TO_CLIENT, 0x01): "Ephemeral Data Response",
    (0x0800, TO_CLIENT, 0x02): "Confirm Key Data Response",
    (0x0800, TO_CLIENT, 0x03): "Terminate Key Establishment",
}


def command_name(cluster: int, direction: int, command: int) -> str | None:
    """The SE command's name, or None for a cluster or command outside the table."""
    return COMMANDS.get((cluster, direction, command))
