import { container as globalContainer, type DependencyContainer } from 'tsyringe';
import { register as registerFirmware } from '@efikdump/firmware-uefi';
import { register as registerKernel } from '@efikdump/kernel-crash';
import { register as registerTransports } from '@efikdump/transports';
import { register as registerStub } from '@efikdump/stub';
import { register as registerVmcore } from '@efikdump/vmcore';

/** The composition root: a fresh container with every built-in package's plug-ins registered. */
export function createContainer(): DependencyContainer {
  const root = globalContainer.createChildContainer();
  for (const register of [registerFirmware, registerKernel, registerTransports, registerStub, registerVmcore]) register(root);
  return root;
}
