import { formatDate, plural } from '../../shared/format';
import { PlugIcon, PlusIcon } from '../../shared/icons';
import { EmptyState, ErrorState, Logo } from '../../shared/ui';
import { api, useResource, type IntegrationSummary } from '../api';
import { Link, paths } from '../router';
import { SkeletonRows } from './parts';

export function IntegrationsPage() {
  const list = useResource(() => api<{ integrations: IntegrationSummary[] }>('GET', '/api/v1/integration'), []);
  const integrations = list.data?.integrations;
  return (
    <>
      <div className="page-header">
        <div className="titles">
          <h1>Integrations</h1>
          <p>Each integration holds the app you registered with a provider. End users connect their accounts through it.</p>
        </div>
        {integrations && integrations.length > 0 ? (
          <Link className="btn btn-primary" to={paths.newIntegration}>
            <PlusIcon size={16} />
            New integration
          </Link>
        ) : null}
      </div>
      <div className="card">
        {list.error && !integrations ? (
          <ErrorState error={list.error} retry={list.reload} />
        ) : integrations && integrations.length === 0 ? (
          <EmptyState
            icon={<PlugIcon />}
            title="No integrations yet"
            action={
              <Link className="btn btn-primary" to={paths.newIntegration}>
                <PlusIcon size={16} />
                Create an integration
              </Link>
            }
          >
            Pick a provider, paste the client ID and secret of the OAuth app you registered there, and your users can connect.
          </EmptyState>
        ) : (
          <div className="table-wrap">
            <table className="table">
              <caption className="sr-only">Integrations</caption>
              <thead>
                <tr>
                  <th scope="col">Integration</th>
                  <th scope="col" className="hide-narrow">
                    Provider
                  </th>
                  <th scope="col" className="hide-narrow">
                    Auth
                  </th>
                  <th scope="col" className="num">
                    Connections
                  </th>
                  <th scope="col" className="hide-narrow">
                    Created
                  </th>
                </tr>
              </thead>
              <tbody>
                {integrations
                  ? integrations.map((integration) => (
                      <tr key={integration.uniqueKey}>
                        <td>
                          <div className="cell-main">
                            <Logo src={integration.logoUrl} />
                            <div>
                              <Link to={paths.integration(integration.uniqueKey)}>{integration.displayName}</Link>
                              <div className="muted small mono">{integration.uniqueKey}</div>
                            </div>
                          </div>
                        </td>
                        <td className="hide-narrow">{integration.provider}</td>
                        <td className="hide-narrow">
                          <span className="badge badge-plain">{integration.authMode ?? 'unknown'}</span>
                        </td>
                        <td className="num">
                          <Link to={paths.connections({ integration: integration.uniqueKey })} aria-label={`${plural(integration.connectionCount, 'connection')} of ${integration.displayName}`}>
                            {integration.connectionCount}
                          </Link>
                        </td>
                        <td className="hide-narrow muted">{formatDate(integration.creationDate)}</td>
                      </tr>
                    ))
                  : <SkeletonRows columns={5} />}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </>
  );
}
