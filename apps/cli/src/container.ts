import { container as globalContainer, type DependencyContainer } from 'tsyringe';
import { loadPlugins, pluginRefsFromList, type PluginRef } from '@efikdump/core';
import { register as registerFirmware } from '@efikdump/firmware-uefi';
import { register as registerKernel } from '@efikdump/kernel-crash';
import { register as registerTransports } from '@efikdump/transports';
import { register as registerStub } from '@efikdump/stub';
import { register as registerVmcore } from '@efikdump/vmcore';

/**
 * The composition root: a fresh container with every built-in package's plug-ins registered, then
 * the plug-in packages named by designs, `--plugin` or `EFIKDUMP_PLUGINS`.
 */
export function createContainer(plugins: readonly PluginRef[] = []): DependencyContainer {
  const root = globalContainer.createChildContainer();
  for (const register of [registerFirmware, registerKernel, registerTransports, registerStub, registerVmcore]) register(root);
  loadPlugins(root, plugins);
  return root;
}

/** Plug-ins named outside any design: `--plugin a,b` and the `EFIKDUMP_PLUGINS` environment variable (comma-separated), resolved from the working directory. */
export function pluginsFromCommandLine(option: string | true | undefined, env: NodeJS.ProcessEnv = process.env): PluginRef[] {
  const cwd = process.cwd();
  return [
    ...pluginRefsFromList(env.EFIKDUMP_PLUGINS, cwd, 'EFIKDUMP_PLUGINS'),
    ...pluginRefsFromList(typeof option === 'string' ? option : undefined, cwd, '--plugin'),
  ];
}
