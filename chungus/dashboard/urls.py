"""The home page, the operator dashboard and its live tables, the jobs and batches pages,
the playground."""

from django.urls import URLPattern, URLResolver, path

from chungus.dashboard import batches_views, ensemble_views, fah_views, jobs_views, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("partials/models/", views.home_models, name="home-models"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/partials/backends/", views.backends, name="dashboard-backends"),
    path(
        "dashboard/partials/deployments/",
        views.deployments_table,
        name="dashboard-deployments",
    ),
    path("dashboard/partials/gpus/", views.gpu_panel, name="dashboard-gpus"),
    path("dashboard/audit/", views.audit_log, name="audit-log"),
    path("dashboard/folding-at-home/", fah_views.fah, name="fah"),
    path("jobs/", jobs_views.jobs, name="jobs"),
    path("jobs/partials/table/", jobs_views.jobs_table, name="jobs-table"),
    path("jobs/<int:job_id>/", jobs_views.job, name="job"),
    path("jobs/<int:job_id>/partials/live/", jobs_views.job_live, name="job-live"),
    path("jobs/<int:job_id>/energies.json", jobs_views.job_energies, name="job-energies"),
    path("jobs/<int:job_id>/trajectory.pdb", jobs_views.job_trajectory, name="job-trajectory"),
    path("jobs/<int:job_id>/cancel/", jobs_views.job_cancel, name="job-cancel"),
    path("jobs/<int:job_id>/ensemble.json", ensemble_views.ensemble_json, name="job-ensemble"),
    path(
        "jobs/<int:job_id>/ensemble-structures.json",
        ensemble_views.ensemble_structures,
        name="job-ensemble-structures",
    ),
    path("batches/", batches_views.batches, name="batches"),
    path("batches/partials/table/", batches_views.batches_table, name="batches-table"),
    path("batches/<str:batch_id>/cancel/", batches_views.batch_cancel, name="batch-cancel"),
    path("playground/", views.playground, name="playground"),
]
