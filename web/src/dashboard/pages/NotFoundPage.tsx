import { SearchIcon } from '../../shared/icons';
import { EmptyState } from '../../shared/ui';
import { Link, paths } from '../router';

export function NotFoundPage() {
  return (
    <div className="card">
      <EmptyState
        icon={<SearchIcon />}
        title="This page does not exist"
        action={
          <Link className="btn btn-primary" to={paths.integrations}>
            Go to integrations
          </Link>
        }
      >
        The address may be mistyped, or the integration or connection it pointed to was deleted.
      </EmptyState>
    </div>
  );
}
