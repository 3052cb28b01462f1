#!/usr/bin/python3
"""Drives the python3-dbusmock systemd and logind mocks for manager/system/sdbus_system_test.cpp.

Runs with /usr/bin/python3 (the one with dbusmock and dbus-python) against the bus in
DBUS_SYSTEM_BUS_ADDRESS, only through the mocks' org.freedesktop.DBus.Mock interface.

  mockctl.py setup                      wait for both mocks, add what their templates lack
  mockctl.py job METHOD RESULT          METHOD (StartUnit/StopUnit/RestartUnit) emits JobRemoved
                                        with RESULT *before* its reply (the race we must survive)
  mockctl.py job-never METHOD           METHOD returns a job but only another job's JobRemoved
  mockctl.py fail SERVICE METHOD IN OUT ERROR MESSAGE
                                        METHOD raises the D-Bus error ERROR
  mockctl.py method SERVICE METHOD IN OUT CODE
                                        METHOD runs CODE (dbusmock AddMethod)
  mockctl.py calls SERVICE METHOD       prints the logged calls' arguments as JSON (no timestamps)

SERVICE is systemd or logind.
"""

import json
import sys
import time

import dbus

MOCK = 'org.freedesktop.DBus.Mock'
SERVICES = {
    'systemd': ('org.freedesktop.systemd1', '/org/freedesktop/systemd1',
                'org.freedesktop.systemd1.Manager'),
    'logind': ('org.freedesktop.login1', '/org/freedesktop/login1',
               'org.freedesktop.login1.Manager'),
}
UNIT = 'parley-server.service'


def mock(bus, service):
    name, path, _ = SERVICES[service]
    return dbus.Interface(bus.get_object(name, path), MOCK)


def wait_for_names(bus, timeout=15.0):
    names = [s[0] for s in SERVICES.values()]
    deadline = time.monotonic() + timeout
    while True:
        missing = [n for n in names if not bus.name_has_owner(n)]
        if not missing:
            return
        if time.monotonic() > deadline:
            sys.exit(f'mock names not on the bus after {timeout}s: {missing}')
        time.sleep(0.05)


def job_code(result, emit_own=True):
    # Emitting inside the method call puts the signal on the wire before the method reply.
    target = 'job_path' if emit_own else "job_path + '0000'"
    return f'''
job_id = self.next_job_id
self.next_job_id += 1
job_path = '/org/freedesktop/systemd1/job/%d' % job_id
self.EmitSignal('org.freedesktop.systemd1.Manager', 'JobRemoved', 'uoss',
                [dbus.UInt32(job_id), dbus.ObjectPath({target}), args[0], {result!r}])
ret = dbus.ObjectPath(job_path)
'''


def setup(bus):
    wait_for_names(bus)
    systemd = mock(bus, 'systemd')
    manager = SERVICES['systemd'][2]
    systemd.AddMethod(manager, 'Subscribe', '', '', '')
    systemd.AddMethod(manager, 'RestartUnit', 'ss', 'o', job_code('done'))
    systemd.AddMockUnit(UNIT)
    # The template's unit has no SubState; real systemd always has one.
    unit_path = bus.get_object(SERVICES['systemd'][0], SERVICES['systemd'][1]).GetUnit(
        UNIT, dbus_interface=manager)
    unit = dbus.Interface(bus.get_object(SERVICES['systemd'][0], unit_path), MOCK)
    unit.AddProperty('org.freedesktop.systemd1.Unit', 'SubState', 'dead')

    logind = mock(bus, 'logind')
    login_manager = SERVICES['logind'][2]
    logind.AddProperty(login_manager, 'ScheduledShutdown',
                       dbus.Struct(('', dbus.UInt64(0)), signature='st'))
    logind.AddMethod(login_manager, 'ScheduleShutdown', 'st', '', f'''
self.Set({login_manager!r}, 'ScheduledShutdown',
         dbus.Struct((args[0], dbus.UInt64(args[1])), signature='st'))
''')
    logind.AddMethod(login_manager, 'CancelScheduledShutdown', '', 'b', f'''
ret = self.Get({login_manager!r}, 'ScheduledShutdown')[0] != ''
self.Set({login_manager!r}, 'ScheduledShutdown', dbus.Struct(('', dbus.UInt64(0)), signature='st'))
''')
    # What setup itself called is not what the code under test did.
    systemd.ClearCalls()
    logind.ClearCalls()


def plain(value):
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return repr(value)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    bus = dbus.SystemBus()
    command, rest = argv[1], argv[2:]
    if command == 'setup':
        setup(bus)
    elif command == 'job' and len(rest) == 2:
        mock(bus, 'systemd').AddMethod(SERVICES['systemd'][2], rest[0], 'ss', 'o',
                                       job_code(rest[1]))
    elif command == 'job-never' and len(rest) == 1:
        mock(bus, 'systemd').AddMethod(SERVICES['systemd'][2], rest[0], 'ss', 'o',
                                       job_code('done', emit_own=False))
    elif command == 'fail' and len(rest) == 6:
        service, method, in_sig, out_sig, error, message = rest
        code = f'raise dbus.exceptions.DBusException({message!r}, name={error!r})'
        mock(bus, service).AddMethod(SERVICES[service][2], method, in_sig, out_sig, code)
    elif command == 'method' and len(rest) == 5:
        service, method, in_sig, out_sig, code = rest
        mock(bus, service).AddMethod(SERVICES[service][2], method, in_sig, out_sig, code)
    elif command == 'calls' and len(rest) == 2:
        calls = mock(bus, rest[0]).GetMethodCalls(rest[1])
        print(json.dumps([plain(args) for _, args in calls]))
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv)
