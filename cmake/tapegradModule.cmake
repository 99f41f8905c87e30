# tapegrad_module(NAME [DEPENDS module...] [LIBS target...])
#
# One module of the library, called from NAME/CMakeLists.txt:
#   NAME/include/tapegrad/NAME/*.h   its public headers (installed: the API)
#   NAME/src/*.cpp, NAME/src/*.h     its sources and private headers (never installed)
# It becomes the object library tapegrad_NAME, whose objects go into the one libtapegrad that
# users link as tapegrad::tapegrad. A module sees the headers of the modules it DEPENDS on, and
# of no other: an include that goes the wrong way (core including autograd) does not compile.
# Private headers of a module are visible to the modules above it (tensor_impl.h to the
# optimizers' kernels), spelled without a prefix ("tensor_impl.h") so that an include line
# shows which kind of header it names.
function(tapegrad_module name)
  cmake_parse_arguments(M "" "" "DEPENDS;LIBS" ${ARGN})
  set(dir ${CMAKE_CURRENT_SOURCE_DIR})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${dir}/src/*.cpp)
  set(target tapegrad_${name})
  add_library(${target} OBJECT ${sources})
  target_include_directories(${target}
    PUBLIC $<BUILD_INTERFACE:${dir}/include>
    INTERFACE $<BUILD_INTERFACE:${dir}/src>
    PRIVATE ${dir}/src)
  foreach(dep IN LISTS M_DEPENDS)
    target_link_libraries(${target} PUBLIC tapegrad_${dep})
  endforeach()
  if(M_LIBS)
    target_link_libraries(${target} PRIVATE ${M_LIBS})
  endif()
  # Inline functions (the kernels' run functions, every in-class member) are not exported: a
  # caller compiles its own copy of one, so exporting it only grows the library's symbol tables.
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ${TAPEGRAD_SHARED} VISIBILITY_INLINES_HIDDEN ON)
  target_compile_features(${target} PUBLIC cxx_std_20)
  tapegrad_warnings(${target})
  # -fno-math-errno: the library never reads errno, and without it GCC will not vectorize loops
  # that call sqrt (the Adam, Adagrad and RMSprop updates).
  target_compile_options(${target} PRIVATE -fno-math-errno $<$<BOOL:${TAPEGRAD_NATIVE}>:-march=native>)
  target_sources(tapegrad PRIVATE $<TARGET_OBJECTS:${target}>)
  target_include_directories(tapegrad PUBLIC $<BUILD_INTERFACE:${dir}/include>)
  if(M_LIBS)
    target_link_libraries(tapegrad PRIVATE ${M_LIBS})
  endif()
  install(DIRECTORY ${dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()

# The project's own code builds with -Wall -Wextra, and with -Werror under TAPEGRAD_WERROR (the
# test command sets it). Third-party headers come in as SYSTEM, so their warnings are not ours.
# Under the sanitizers GCC 12's -Wmaybe-uninitialized reports paths that the instrumentation
# adds (inside std::function and std::regex), not ours; it stays on in the Release build.
function(tapegrad_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra $<$<BOOL:${TAPEGRAD_WERROR}>:-Werror>
    $<$<BOOL:${TAPEGRAD_SANITIZE}>:-Wno-maybe-uninitialized>)
endfunction()
