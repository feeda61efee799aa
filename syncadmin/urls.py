from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from syncadmin.views.hooks import netsuite_hook, zuora_hook

admin.site.site_header = "syncadmin"
admin.site.site_title = "syncadmin"
admin.site.index_title = "Zuora ↔ NetSuite customer sync"
# The lists need the whole width of a laptop screen (1440 px) for their columns and filters;
# the breadcrumbs and the index lead to every page instead of a sidebar.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("hooks/zuora/", zuora_hook, name="hook_zuora"),
    path("hooks/netsuite/", netsuite_hook, name="hook_netsuite"),
]
