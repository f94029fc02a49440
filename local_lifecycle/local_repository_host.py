"""A `RepositoryHost` that keeps projects as local git repositories, for the offline lifecycle.

It implements the same contract as `gitlab_host.GitLabHost`, so the seed-code check-in and the
GitLab trigger run unchanged against it. CI/CD variables land in each repository's
`.gitlab-ci-local-variables.yml` (the project-variables file gitlab-ci-local reads, excluded
from commits), and started pipelines are queued in `pipelines.jsonl` for the lifecycle to run.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from gitlab_host import CiVariable, PipelineRef, ProjectId, ProjectRef, RepositoryHostError

VARIABLES_FILE = ".gitlab-ci-local-variables.yml"
_PERSONAL_NAMESPACE = "local-user"


class LocalRepositoryHost:
    """Projects under `root/<namespace path>/<name>`, numbered in `root/projects.json`.

    `groups` maps group IDs to their full paths, as on GitLab; `personal_namespace` is the token
    owner's namespace (projects created without a group). An unknown group is a 404, as on GitLab.
    """

    def __init__(
        self, root: Path, *, groups: Mapping[int, str] | None = None, personal_namespace: str = _PERSONAL_NAMESPACE
    ) -> None:
        self.root = Path(root)
        self._groups = dict(groups or {})
        self._personal_namespace = personal_namespace
        self.root.mkdir(parents=True, exist_ok=True)
        self._registry = self.root / "projects.json"
        self._pipelines = self.root / "pipelines.jsonl"

    # -- RepositoryHost -------------------------------------------------------------------
    def ensure_project(self, name: str, *, namespace_id: int | None = None, description: str = "") -> ProjectRef:
        """Create (git init) the project, or return the existing one with `created=False`."""
        if namespace_id is not None and namespace_id not in self._groups:
            raise RepositoryHostError(
                f"group {namespace_id} does not exist on the local host (404)",
                operation="create project",
                status_code=404,
            )
        namespace = self._personal_namespace if namespace_id is None else self._groups[namespace_id]
        path = f"{namespace}/{name}"
        projects = self._projects()
        existing = next((int(pid) for pid, p in projects.items() if p == path), None)
        if existing is not None:
            return self._ref(existing, created=False)
        repo = self.root / path
        repo.mkdir(parents=True, exist_ok=True)
        self._git(repo, "init", "--quiet", "--initial-branch=main")
        (repo / ".git" / "info" / "exclude").write_text(f"{VARIABLES_FILE}\n.gitlab-ci-local/\n")
        (repo / ".git" / "description").write_text(description or name)
        project_id = max(map(int, projects), default=0) + 1
        projects[str(project_id)] = path
        self._registry.write_text(json.dumps(projects, indent=2))
        return self._ref(project_id, created=True)

    def get_project(self, project_id: ProjectId) -> ProjectRef:
        """Return the project with this ID."""
        return self._ref(int(project_id), created=False)

    def commit_files(
        self, project_id: ProjectId, *, branch: str, files: Mapping[str, bytes], message: str
    ) -> str | None:
        """Write the files on `branch` in one commit; identical files are left out."""
        repo = self.repo_path(project_id)
        self._git(repo, "checkout", "--quiet", "-B", branch)
        changed = []
        for relative, content in files.items():
            target = (repo / relative).resolve()
            if repo.resolve() not in target.parents:
                raise RepositoryHostError(f"file path {relative!r} escapes the repository", operation="commit files")
            if target.is_file() and target.read_bytes() == content:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            if relative.endswith((".sh", ".py")) and content.startswith(b"#!"):
                target.chmod(0o755)
            changed.append(relative)
        if not changed:
            return None
        self._git(repo, "add", "--", *changed)
        self._git(
            repo,
            "-c",
            "user.name=SageMaker seed code",
            "-c",
            "user.email=seed@localhost",
            "commit",
            "--quiet",
            "-m",
            message,
        )
        return self._git(repo, "rev-parse", "HEAD").strip()

    def differing_files(self, project_id: ProjectId, *, branch: str, files: Mapping[str, bytes]) -> list[str]:
        """Paths of `files` that exist on `branch` with other content."""
        repo = self.repo_path(project_id)
        differing = []
        for relative, content in files.items():
            shown = subprocess.run(["git", "show", f"{branch}:{relative}"], cwd=repo, capture_output=True, check=False)
            if shown.returncode == 0 and shown.stdout != content:
                differing.append(relative)
        return sorted(differing)

    def set_variables(self, project_id: ProjectId, variables: Sequence[CiVariable]) -> None:
        """Upsert project variables into the file gitlab-ci-local reads."""
        path = self.repo_path(project_id) / VARIABLES_FILE
        current = yaml.safe_load(path.read_text()) if path.is_file() else {}
        current.update({variable.key: variable.value for variable in variables})
        path.write_text(yaml.safe_dump(current, sort_keys=True))

    def allow_pipeline_variables(self, project_id: ProjectId) -> None:
        """Pipeline variables are always allowed locally."""
        self.repo_path(project_id)

    def start_pipeline(self, project_id: ProjectId, *, ref: str, variables: Mapping[str, str]) -> PipelineRef:
        """Queue a pipeline; the lifecycle runs it with gitlab-ci-local."""
        repo = self.repo_path(project_id)
        queued = self.pipelines()
        pipeline_id = len(queued) + 1
        record = {"id": pipeline_id, "project_id": int(project_id), "ref": ref, "variables": dict(variables)}
        with self._pipelines.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        return PipelineRef(id=pipeline_id, web_url=f"{repo.as_uri()}#pipeline-{pipeline_id}")

    def archive_project(self, project_id: ProjectId) -> None:
        """Mark the project archived (a file beside its working tree, as GitLab keeps a flag)."""
        repo = self._project_path(project_id)
        (self.root / f"{repo}.archived").write_text("archived\n")

    def archived(self, project_id: ProjectId) -> bool:
        """Whether `archive_project` was called for the project."""
        return (self.root / f"{self._project_path(project_id)}.archived").is_file()

    # -- lifecycle helpers ----------------------------------------------------------------
    def pipelines(self) -> list[dict[str, Any]]:
        """Every pipeline started so far, oldest first."""
        if not self._pipelines.is_file():
            return []
        return [json.loads(line) for line in self._pipelines.read_text().splitlines() if line]

    def variables(self, project_id: ProjectId) -> dict[str, str]:
        """The project's CI/CD variables."""
        path = self.repo_path(project_id) / VARIABLES_FILE
        return yaml.safe_load(path.read_text()) if path.is_file() else {}

    def repo_path(self, project_id: ProjectId) -> Path:
        """Working tree of the project (by ID or by full path, as GitLab's API accepts both)."""
        return self.root / self._project_path(project_id)

    def _project_path(self, project_id: ProjectId) -> str:
        projects = self._projects()
        path = projects.get(str(project_id)) or (str(project_id) if str(project_id) in projects.values() else None)
        if path is None:
            raise RepositoryHostError(
                f"project {project_id} does not exist on the local host (404)",
                operation="read project",
                status_code=404,
            )
        return path

    def _ref(self, project_id: int, *, created: bool) -> ProjectRef:
        repo = self.repo_path(project_id)
        return ProjectRef(
            id=project_id, path_with_namespace=str(repo.relative_to(self.root)), web_url=repo.as_uri(), created=created
        )

    def _projects(self) -> dict[str, str]:
        return json.loads(self._registry.read_text()) if self._registry.is_file() else {}

    @staticmethod
    def _git(repo: Path, *args: str) -> str:
        result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RepositoryHostError(
                f"git {args[0]} failed in {repo}: {result.stderr.strip()}", operation=f"git {args[0]}"
            )
        return result.stdout
